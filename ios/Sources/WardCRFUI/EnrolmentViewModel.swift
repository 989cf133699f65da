// Enrolment of this tablet with the site's repository: by the address and one-time code typed in,
// or by the QR payload the console shows (scanned with the camera).
import Foundation
import WardCRF

/// Enrolment: the repository's address and the one-time code from the site administrator.
@MainActor
public final class EnrolmentViewModel: ObservableObject {
    @Published public var serverURL = ""
    @Published public var code = ""
    @Published public private(set) var busy = false
    @Published public private(set) var enrolled: Enrolment?
    @Published public private(set) var message: UiMessage?

    private let store: WardStore
    private let lang: Language

    public init(store: WardStore, lang: Language) {
        self.store = store
        self.lang = lang
    }

    public var canSubmit: Bool {
        !busy && !serverURL.trimmingCharacters(in: .whitespaces).isEmpty && !code.trimmingCharacters(in: .whitespaces).isEmpty
    }

    public func submit() async {
        guard canSubmit else { return }
        let (url, typed) = (serverURL.trimmingCharacters(in: .whitespaces), code.trimmingCharacters(in: .whitespaces))
        await enrol { try await $0.enroll(serverURL: url, code: typed) }
    }

    /// Enrols with the text of the console's QR code (read by the camera); the repository's
    /// certificate is pinned by the fingerprint it carries.
    public func submit(qrPayload: String) async {
        guard !busy else { return }
        await enrol { try await $0.enroll(qrPayload: qrPayload) }
    }

    /// The camera cannot be used: say so; the typed fields stay.
    public func cameraUnavailable() {
        message = Messages.error(.cameraUnavailable, lang)
    }

    private func enrol(_ body: (WardStore) async throws -> Enrolment) async {
        busy = true
        defer { busy = false }
        message = nil
        do {
            let e = try await body(store)
            enrolled = e
            code = ""
            serverURL = e.serverUrl
            message = Messages.info(.enrolled, lang, e.siteId)
        } catch {
            message = Messages.forError(error, lang)
        }
    }
}

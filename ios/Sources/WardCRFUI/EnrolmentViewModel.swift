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
        busy = true
        defer { busy = false }
        message = nil
        do {
            let e = try await store.enroll(serverURL: serverURL.trimmingCharacters(in: .whitespaces),
                                           code: code.trimmingCharacters(in: .whitespaces))
            enrolled = e
            code = ""
            serverURL = e.serverUrl
            message = Messages.info(.enrolled, lang, e.siteId)
        } catch {
            message = Messages.forError(error, lang)
        }
    }
}

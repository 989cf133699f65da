import Foundation
import WardCRF

public enum SyncPhase: Sendable {
    case idle, running, cancelling, done, cancelled, failed
}

/// Sync with the repository: progress after each exchange, cancel between exchanges (nothing
/// exchanged is lost), each failure as a message that says what to do.
@MainActor
public final class SyncViewModel: ObservableObject {
    @Published public private(set) var serverURL: String?
    @Published public private(set) var phase: SyncPhase = .idle
    @Published public private(set) var progress: SyncProgress?
    @Published public private(set) var summary: SyncSummary?
    @Published public private(set) var message: UiMessage?
    @Published public private(set) var needsEnrolment = false
    @Published public private(set) var canRetry = true

    private let store: WardStore
    private let lang: Language
    private var task: Task<Void, Never>?

    public init(store: WardStore, lang: Language) {
        self.store = store
        self.lang = lang
    }

    public var running: Bool { phase == .running || phase == .cancelling }

    /// Share of cases sent (0...1), or nil before the first exchange reports.
    public var fraction: Double? {
        guard let p = progress else { return nil }
        let total = Double(p.pushed) + Double(p.remaining)
        return total == 0 ? 1 : Double(p.pushed) / total
    }

    public func refresh() async {
        serverURL = try? await store.call { try $0.serverUrl() }
        needsEnrolment = serverURL == nil
    }

    /// Starts a sync; returns when it ended (the UI need not wait).
    public func start() async {
        guard !running else { return }
        phase = .running
        progress = nil
        summary = nil
        message = nil
        let task = Task { [store, lang] in
            do {
                let s = try await store.sync { p in Task { @MainActor in self.progress = p } }
                summary = s
                phase = .done
                message = Messages.info(.syncDone, lang, Int(s.pushed), Int(s.pulled), Int(s.conflicts))
            } catch {
                let e = error as? WardcrfError
                phase = e == .Cancelled ? .cancelled : .failed
                message = Messages.forError(error, lang)
                needsEnrolment = e?.needsEnrolment ?? false
                canRetry = e?.isRetryable ?? false
            }
        }
        self.task = task
        await task.value
    }

    /// Stops the running sync after the exchange in flight.
    public func cancel() {
        guard phase == .running else { return }
        phase = .cancelling
        task?.cancel()
    }
}

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

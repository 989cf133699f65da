// The app's sync with the repository (SyncCoordinator): one sync at a time, started by the
// clinician, the foreground, a sign-in or a background task, and surviving the Sync screen.
import Foundation
import WardCRF

public enum SyncPhase: Sendable {
    case idle, running, cancelling, done, cancelled, failed
}

/// Why a sync was started: the clinician asked (Sync screen), or the app did on its own.
public enum SyncTrigger: Sendable, Equatable {
    /// "Sync" on the Sync screen: runs even after a refusal, to show what is wrong.
    case user
    /// The app came to the foreground, a staff member signed in, or iOS ran a background task.
    case foreground, signIn, background

    var automatic: Bool { self != .user }
}

/// How a sync ended, for whoever started it (a background task reports success or not and
/// schedules the next one).
public enum SyncOutcome: Equatable, Sendable {
    case synced(SyncSummary)
    /// The store is locked (nobody signed in): nothing was tried; try again later.
    case locked
    /// This tablet is not (or no longer) enrolled: no automatic sync until it is enrolled again.
    case stopped
    case cancelled
    /// The network or the repository failed; `retryable`: trying again unchanged may work.
    case failed(retryable: Bool)
    /// An automatic trigger that did not start a sync: too soon after the last one, or stopped.
    case skipped

    public var succeeded: Bool {
        if case .synced = self { return true }
        return false
    }

    /// Whether the app should ask iOS for another background run.
    public var reschedule: Bool {
        switch self {
        case .stopped: return false
        default: return true
        }
    }
}

/// The app's one sync with the repository, owned by the app (not a screen): leaving the Sync
/// screen does not stop it, and the foreground, a sign-in and the background tasks start it
/// through here too. A trigger while a sync runs joins that sync. Progress after each exchange,
/// cancel between exchanges (nothing exchanged is lost), each failure as a message that says
/// what to do. A locked store means "later"; a revoked or not enrolled tablet stops the
/// automatic syncs until it is enrolled again.
@MainActor
public final class SyncCoordinator: ObservableObject {
    @Published public private(set) var serverURL: String?
    @Published public private(set) var phase: SyncPhase = .idle
    @Published public private(set) var progress: SyncProgress?
    @Published public private(set) var summary: SyncSummary?
    @Published public private(set) var message: UiMessage?
    @Published public private(set) var needsEnrolment = false
    @Published public private(set) var canRetry = true
    /// When the last sync succeeded (kept in the app's UserDefaults; no case data).
    @Published public private(set) var lastSynced: Date?
    /// Called after every sync with how it ended (the app schedules background tasks from it).
    public var onOutcome: ((SyncOutcome) -> Void)?

    private let store: WardStore
    private let lang: Language
    private let defaults: UserDefaults
    private let minimumInterval: TimeInterval
    private var task: Task<SyncOutcome, Never>?
    /// A refusal (revoked, not enrolled) stopped the automatic syncs.
    private var stopped = false
    private static let lastSyncedKey = "org.wardcrf.sync.lastSucceeded"

    /// `minimumInterval`: an automatic trigger within this time of the last successful sync
    /// does nothing (the clinician's "Sync" always runs).
    public init(store: WardStore, lang: Language, defaults: UserDefaults = .standard, minimumInterval: TimeInterval = 120) {
        self.store = store
        self.lang = lang
        self.defaults = defaults
        self.minimumInterval = minimumInterval
        lastSynced = defaults.object(forKey: Self.lastSyncedKey) as? Date
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

    /// The tablet was (re-)enrolled: automatic syncs may run again.
    public func enrolled() async {
        stopped = false
        await refresh()
        message = nil
        canRetry = true
    }

    /// The clinician's "Sync": returns when it ended (the UI need not wait).
    public func start() async {
        _ = await sync(.user)
    }

    /// Syncs, or joins the sync already running; returns how it ended. Cancelling the calling
    /// task does not stop the sync (`cancel()` does): it belongs to the app.
    @discardableResult
    public func sync(_ trigger: SyncTrigger) async -> SyncOutcome {
        if let task { return await task.value }
        if trigger.automatic {
            if stopped { return .skipped }
            if let last = lastSynced, Date().timeIntervalSince(last) < minimumInterval { return .skipped }
            // Locked: nobody is signed in to read the cases; not even tried, nothing shown.
            let user = try? await store.call { $0.currentUser() }
            if user == nil { return .locked }
            if let task { return await task.value }
        }
        phase = .running
        progress = nil
        summary = nil
        message = nil
        let task = Task { await self.run() }
        self.task = task
        let outcome = await task.value
        self.task = nil
        onOutcome?(outcome)
        return outcome
    }

    private func run() async -> SyncOutcome {
        do {
            let s = try await store.sync { p in Task { @MainActor in self.progress = p } }
            summary = s
            phase = .done
            needsEnrolment = false
            canRetry = true
            stopped = false
            lastSynced = Date()
            defaults.set(lastSynced, forKey: Self.lastSyncedKey)
            message = Messages.info(.syncDone, lang, Int(s.pushed), Int(s.pulled), Int(s.conflicts))
            return .synced(s)
        } catch {
            let e = error as? WardcrfError
            phase = e == .Cancelled ? .cancelled : .failed
            message = Messages.forError(error, lang)
            needsEnrolment = e?.needsEnrolment ?? false
            canRetry = e?.isRetryable ?? false
            switch e {
            case .Cancelled?: return .cancelled
            case let e? where e.needsSignIn: return .locked
            case let e? where e.needsEnrolment:
                stopped = true
                return .stopped
            default: return .failed(retryable: canRetry)
            }
        }
    }

    /// Stops the running sync after the exchange in flight.
    public func cancel() {
        guard phase == .running else { return }
        phase = .cancelling
        task?.cancel()
    }
}

/// The Sync screen's model is the app's coordinator.
public typealias SyncViewModel = SyncCoordinator

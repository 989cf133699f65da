import Foundation

/// The device's case store with an idiomatic Swift surface over the generated `CaseStore`:
/// every call runs off the caller's thread (`async`), errors are the generated `WardcrfError`,
/// and sync reports progress as an `AsyncThrowingStream` and stops when its task is cancelled.
///
/// ```swift
/// let store = try await WardStore.openOrCreate(in: dir, key: KeychainKeyProvider())
/// _ = try await store.signIn(user: "sato", password: password)  // online the first time
/// let id = try await store.call { try $0.createCase(formId: "icrown-core", modules: []) }
/// for try await event in store.syncEvents() { ... }
/// ```
public final class WardStore: @unchecked Sendable {
    /// The generated object; thread-safe (the Rust side locks), but blocking.
    public let ffi: CaseStore
    /// Reads and edits, in the order they were asked for.
    private let queue = DispatchQueue(label: "org.wardcrf.store", qos: .userInitiated)
    /// Syncs, on their own queue: the core does not hold the store while it talks to the
    /// repository, so reads and edits on `queue` go on during a sync (an edit made meanwhile is
    /// pushed by the next sync); a second sync waits for the first in the core.
    private let syncQueue = DispatchQueue(label: "org.wardcrf.store.sync", qos: .utility)

    public init(_ ffi: CaseStore) {
        self.ffi = ffi
    }

    /// Opens the store in `directory`, creating it on first use, its data key wrapped by `key`.
    /// A store on which staff signed in opens locked: someone signs in to read it.
    public static func openOrCreate(in directory: URL, key: KeyProvider) async throws -> WardStore {
        try await Task.detached(priority: .userInitiated) {
            do {
                return WardStore(try CaseStore.open(dir: directory.path, key: key))
            } catch WardcrfError.NoStore {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                return WardStore(try CaseStore.create(dir: directory.path, key: key))
            }
        }.value
    }

    /// Runs a blocking store call on the store's queue.
    public func call<T>(_ body: @escaping @Sendable (CaseStore) throws -> T) async throws -> T {
        try await call(on: queue, body)
    }

    private func call<T>(on queue: DispatchQueue, _ body: @escaping @Sendable (CaseStore) throws -> T) async throws -> T {
        let ffi = self.ffi
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try body(ffi) })
            }
        }
    }

    public var deviceId: String { ffi.deviceId() }

    /// The staff member every change is recorded under; nil while locked.
    public var currentUser: SignedInUser? { ffi.currentUser() }

    /// Signs a staff member in with their password: online through the repository the first
    /// time on this device, offline afterwards.
    public func signIn(user: String, password: String) async throws -> SignedInUser {
        try await call { try $0.signIn(user: user, password: password, caPem: nil) }
    }

    /// Unlocks with the PIN the staff member set on this device after a password sign-in.
    public func unlock(user: String, pin: String) async throws -> SignedInUser {
        try await call { try $0.unlockWithPin(user: user, pin: pin) }
    }

    /// Sets (or replaces) the signed-in staff member's PIN on this device (4 to 12 digits),
    /// confirmed by their password.
    public func setPin(password: String, pin: String) async throws {
        try await call { try $0.setPin(password: password, pin: pin) }
    }

    /// Removes the signed-in staff member's PIN: they sign in here with the password again.
    public func removePin() async throws {
        try await call { try $0.removePin() }
    }

    /// The ids of the staff who signed in on this device (readable while locked): only they
    /// can have a PIN here.
    public func localStaff() async throws -> [String] {
        try await call { try $0.localStaff() }
    }

    /// Drops the data key from memory (the app went to the background, a lock button).
    public func lock() {
        ffi.lock()
    }

    /// Records use, so that the site's inactivity lock does not fall while someone works.
    public func touch() {
        ffi.touch()
    }

    public func enroll(serverURL: String, code: String) async throws -> Enrolment {
        try await call { try $0.enroll(serverUrl: serverURL, code: code, caPem: nil) }
    }

    /// Enrols from the text of the console's enrolment QR code: the repository's address, the
    /// one-time code and the fingerprint of its certificate, which the store pins for every
    /// later exchange.
    public func enroll(qrPayload: String) async throws -> Enrolment {
        try await call { try $0.enrollWithQr(payload: qrPayload) }
    }

    /// Syncs with the repository, off the queue of reads and edits (they go on meanwhile).
    /// `progress` hears after each exchange (on the sync queue); cancelling the calling task
    /// stops the sync between exchanges with `WardcrfError.Cancelled`, keeping what was
    /// exchanged.
    public func sync(progress: @escaping @Sendable (SyncProgress) -> Void = { _ in }) async throws -> SyncSummary {
        let cancellation = SyncCancellation()
        let relay = ProgressRelay(progress)
        return try await withTaskCancellationHandler {
            try await call(on: syncQueue) { try $0.sync(progress: relay, cancel: cancellation, caPem: nil) }
        } onCancel: {
            cancellation.cancel()
        }
    }

    public enum SyncEvent: Sendable, Equatable {
        case progress(SyncProgress)
        case finished(SyncSummary)
    }

    /// Sync as a stream: `.progress` after each exchange, then `.finished`; the stream throws
    /// the sync's error. Ending the iteration (or cancelling its task) cancels the sync.
    public func syncEvents() -> AsyncThrowingStream<SyncEvent, Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let summary = try await self.sync { continuation.yield(.progress($0)) }
                    continuation.yield(.finished(summary))
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

/// Hands the Rust side's progress reports to a Swift closure.
final class ProgressRelay: SyncProgressListener, @unchecked Sendable {
    private let handler: @Sendable (SyncProgress) -> Void

    init(_ handler: @escaping @Sendable (SyncProgress) -> Void) {
        self.handler = handler
    }

    func onProgress(progress: SyncProgress) {
        handler(progress)
    }
}

extension WardcrfError {
    /// Trying again unchanged may work: the network, or a cancelled sync.
    public var isRetryable: Bool {
        switch self {
        case .Network, .Cancelled, .Storage, .KeyUnavailable: return true
        default: return false
        }
    }

    /// Someone must sign in (again) before the store is used.
    public var needsSignIn: Bool {
        switch self {
        case .Locked, .NotSignedIn: return true
        default: return false
        }
    }

    /// The device must be enrolled (again) before it can sync.
    public var needsEnrolment: Bool {
        switch self {
        case .NotEnrolled, .Revoked: return true
        default: return false
        }
    }
}

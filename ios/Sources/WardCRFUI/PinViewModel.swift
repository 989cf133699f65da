import Foundation
import WardCRF

/// Setting and removing the signed-in staff member's PIN on this device: the password again
/// and the new PIN twice (4 to 12 digits, the two entries equal), both checked here before the
/// store is called (the store checks the PIN's form again and the password). Neither the
/// password nor the PIN is kept. The Swift counterpart of Android's `PinModel`.
@MainActor
public final class PinViewModel: ObservableObject {
    /// The last outcome: an error keeps the sheet open; `done` closes it.
    @Published public var message: UiMessage?
    /// The PIN was set or removed.
    @Published public private(set) var done = false
    @Published public private(set) var busy = false

    private let store: WardStore
    private let lang: Language

    public init(store: WardStore, lang: Language) {
        self.store = store
        self.lang = lang
    }

    /// Starts a new sheet: no message, not done.
    public func open() {
        message = nil
        done = false
    }

    /// Sets (or replaces) the PIN: `pin` and `confirmation` must match and be 4 to 12 digits.
    public func setPin(password: String, pin: String, confirmation: String) async {
        done = false
        guard pin == confirmation else {
            message = Messages.error(.pinMismatch, lang)
            return
        }
        guard Self.isWellFormed(pin) else {
            message = Messages.error(.badPin, lang)
            return
        }
        let store = self.store
        await act(.pinSet) { try await store.setPin(password: password, pin: pin) }
    }

    /// Removes the PIN: from now on this staff member signs in here with the password.
    public func removePin() async {
        let store = self.store
        await act(.pinRemoved) { try await store.removePin() }
    }

    private func act(_ success: MessageKey, _ body: () async throws -> Void) async {
        busy = true
        message = nil
        done = false
        defer { busy = false }
        do {
            try await body()
            message = Messages.info(success, lang)
            done = true
        } catch {
            message = Messages.forError(error, lang)
        }
    }

    /// A PIN is 4 to 12 ASCII digits.
    public nonisolated static func isWellFormed(_ pin: String) -> Bool {
        (4...12).contains(pin.count) && pin.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// Whether the sign-in sheet offers the PIN field for `user`. The store does not say who
    /// has a PIN, only who signed in on this device (`localStaff`); a PIN needs a password
    /// sign-in here first, so nobody else can have one. `localStaff` nil (it could not be
    /// read): offer it, and the store's `NoPin` says what to do.
    public nonisolated static func offersPin(user: String, localStaff: [String]?) -> Bool {
        guard let localStaff else { return true }
        return localStaff.contains(user.trimmingCharacters(in: .whitespaces))
    }
}

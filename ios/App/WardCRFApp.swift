import SwiftUI
import UIKit
import WardCRF
import WardCRFUI

/// Opens the store (Keychain-wrapped key, in Application Support excluded from backups), signs
/// a staff member in (password; online the first time on this device; then a PIN if they set
/// one), then shows the case list. The store locks when the app goes to the background (after
/// a running sync's exchange ends) and after the site's inactivity lock. Sync runs on its own:
/// on sign-in, when the app comes to the foreground, and in background tasks. The core's log
/// records (sync counts and durations) go to the unified log.
@main
struct WardCRFApp: App {
    @StateObject private var session: AppSession
    @Environment(\.scenePhase) private var scenePhase

    init() {
        OSLogSink.install()
        let session = AppSession()
        _session = StateObject(wrappedValue: session)
        BackgroundSync.register { [weak session] in await session?.coordinatorForBackground() }
    }

    var body: some Scene {
        WindowGroup {
            RootView().environmentObject(session)
        }
        .onChange(of: scenePhase) { phase in
            switch phase {
            case .active: session.cameToForeground()
            case .inactive, .background: session.wentToBackground()
            @unknown default: break
            }
        }
    }
}

@MainActor
final class AppSession: ObservableObject {
    @Published private(set) var store: WardStore?
    @Published private(set) var failure: String?
    /// The staff member signed in; nil: the sign-in sheet shows.
    @Published private(set) var user: SignedInUser?
    @Published private(set) var signInMessage: String?
    /// Who signed in on this device (only they can have a PIN here); nil: unknown.
    @Published private(set) var localStaff: [String]?
    /// The app's one sync (the Sync screen shows it; leaving the screen does not stop it).
    @Published private(set) var sync: SyncCoordinator?
    let lang = Language.preferred
    private var idleCheck: Task<Void, Never>?
    private var opening: Task<Void, Never>?

    /// Opens the store once; a second caller (the window and a background task) waits for it.
    func open() async {
        if store != nil { return }
        if let opening { return await opening.value }
        let task = Task { await self.openStore() }
        opening = task
        await task.value
        opening = nil
    }

    private func openStore() async {
        failure = nil
        do {
            var dir = try FileManager.default.url(for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
                .appendingPathComponent(UITestSupport.freshStore ? "uitest-store-\(UUID().uuidString)" : "case-store", isDirectory: true)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            var values = URLResourceValues()
            values.isExcludedFromBackup = true
            try dir.setResourceValues(values)
            let key = UITestSupport.freshStore ? KeychainKeyProvider(account: "wardcrf-uitest-key") : KeychainKeyProvider()
            let store = try await WardStore.openOrCreate(in: dir, key: key)
            let sync = SyncCoordinator(store: store, lang: lang)
            sync.onOutcome = { outcome in
                if outcome.reschedule { BackgroundSync.schedule() } else { BackgroundSync.cancel() }
            }
            await sync.refresh()
            self.store = store
            self.sync = sync
            user = store.currentUser
            if user == nil { await loadLocalStaff() }
        } catch {
            failure = Messages.forError(error, lang).text
        }
    }

    /// Signs in with a password, or with a PIN when `pin` is given.
    func signIn(user id: String, password: String, pin: String?) async {
        guard let store else { return }
        signInMessage = nil
        do {
            if let pin, !pin.isEmpty {
                user = try await store.unlock(user: id, pin: pin)
            } else {
                user = try await store.signIn(user: id, password: password)
            }
            watchInactivity()
            if let sync { Task { await sync.sync(.signIn) } }
        } catch {
            signInMessage = Messages.forError(error, lang).text
        }
    }

    private var lastTouch = Date.distantPast

    /// Records use (at most every 10 s, off the main thread: a sync holds the store).
    func touch() {
        guard let store, Date().timeIntervalSince(lastTouch) > 10 else { return }
        lastTouch = Date()
        Task.detached { store.touch() }
    }

    /// Drops the key: the app went to the background, or "switch user".
    func lock() {
        if let store { Task.detached { store.lock() } }
        user = nil
        Task { await loadLocalStaff() }
    }

    /// The store's coordinator for a background task (the system may have launched the app
    /// for it: the store is opened, locked if staff signed in on this device).
    func coordinatorForBackground() async -> SyncCoordinator? {
        await open()
        return sync
    }

    /// Syncs if someone is signed in and the last sync is not recent.
    func cameToForeground() {
        guard user != nil, let sync else { return }
        Task { await sync.sync(.foreground) }
    }

    /// Locks the store. A sync in flight first finishes (or is cancelled between exchanges when
    /// iOS ends the app's background time), so nothing half-exchanged waits for the next one.
    func wentToBackground() {
        guard let sync, sync.running else { return lock() }
        var assertion = UIBackgroundTaskIdentifier.invalid
        assertion = UIApplication.shared.beginBackgroundTask(withName: "finish-sync") {
            sync.cancel()
        }
        Task {
            await sync.sync(.background)  // joins the running sync
            self.lock()
            UIApplication.shared.endBackgroundTask(assertion)
        }
    }

    /// Reads who signed in on this device, for the sign-in sheet's PIN field.
    func loadLocalStaff() async {
        guard let store else { return }
        localStaff = try? await store.localStaff()
    }

    /// Notices the store's own inactivity lock (it drops the key on the next call after the
    /// site's limit) and brings the sign-in sheet back.
    private func watchInactivity() {
        idleCheck?.cancel()
        idleCheck = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(30))
                guard let self, let store = self.store else { return }
                // Off the main thread (a sync holds the store); asking is not use.
                let current = try? await store.call { $0.currentUser() }
                if current == nil {
                    self.user = nil
                    await self.loadLocalStaff()
                    return
                }
            }
        }
    }
}

struct RootView: View {
    @EnvironmentObject private var session: AppSession

    var body: some View {
        Group {
            if let failure = session.failure {
                VStack(spacing: 16) {
                    Text("store_error_title").font(.title2).accessibilityAddTraits(.isHeader)
                    Text(failure)
                    Button("retry") { Task { await session.open() } }.buttonStyle(.borderedProminent)
                }
                .padding()
            } else if let store = session.store, let sync = session.sync {
                NavigationStack {
                    CaseListView(store: store, sync: sync, lang: session.lang, onUser: { session.lock() })
                }
                // Any touch is use: the inactivity lock falls only when nobody works.
                .simultaneousGesture(TapGesture().onEnded { session.touch() })
            } else {
                ProgressView("loading")
            }
        }
        .task { await session.open() }
        .sheet(isPresented: Binding(get: { session.store != nil && session.user == nil }, set: { _ in })) {
            if let store = session.store, let sync = session.sync {
                SignInSheet(message: session.signInMessage, localStaff: session.localStaff, store: store, sync: sync, lang: session.lang) { id, password, pin in
                    await session.signIn(user: id, password: password, pin: pin)
                }
                .interactiveDismissDisabled(true)
            }
        }
    }
}

/// Who is entering data: a staff member of the site signs in (their password; the first time
/// on this tablet while connected to the repository), or unlocks with their PIN. The PIN field
/// shows only for a staff ID that signed in on this device before (`localStaff`; the store does
/// not say who set a PIN, so for them the store's NoPin message says to use the password).
/// A tablet not yet enrolled is enrolled from here first (the first sign-in is online).
struct SignInSheet: View {
    let message: String?
    let localStaff: [String]?
    let store: WardStore
    @ObservedObject var sync: SyncCoordinator
    let lang: Language
    let onSignIn: (String, String, String?) async -> Void
    @State private var id = ""
    @State private var password = ""
    @State private var pin = ""
    @State private var busy = false

    var body: some View {
        NavigationStack {
            Form {
                Section(footer: Text("signin_explain")) {
                    TextField("signin_user", text: $id)
                        .accessibilityIdentifier("signin.user")
                        .textContentType(.username)
                        .textInputAutocapitalization(.never)
                        .autocorrectionDisabled()
                    SecureField("signin_password", text: $password)
                        .textContentType(.password)
                        .accessibilityIdentifier("signin.password")
                    if offersPin {
                        SecureField("signin_pin", text: $pin)
                            .keyboardType(.numberPad)
                    }
                }
                if let message {
                    Section { Text(message).foregroundStyle(.red).accessibilityIdentifier("signin.message") }
                }
                if sync.serverURL == nil {
                    Section(footer: Text("sync_not_enrolled")) {
                        NavigationLink("enrol_action") {
                            EnrolmentView(store: store, lang: lang, onEnrolled: { Task { await sync.enrolled() } })
                        }
                        .accessibilityIdentifier("signin.enrol")
                    }
                }
            }
            .navigationTitle("signin_title")
            .toolbar {
                ToolbarItem(placement: .confirmationAction) {
                    Button("signin_submit") {
                        busy = true
                        Task {
                            await onSignIn(id.trimmingCharacters(in: .whitespaces), password, pin.isEmpty || !offersPin ? nil : pin)
                            password = ""
                            pin = ""
                            busy = false
                        }
                    }
                    .accessibilityIdentifier("signin.submit")
                    .disabled(busy || id.trimmingCharacters(in: .whitespaces).isEmpty || (password.isEmpty && (pin.isEmpty || !offersPin)))
                }
            }
        }
    }

    private var offersPin: Bool {
        let trimmed = id.trimmingCharacters(in: .whitespaces)
        return !trimmed.isEmpty && PinViewModel.offersPin(user: trimmed, localStaff: localStaff)
    }
}

/// Launch arguments of the XCUITests (UITests/): `-uitest-fresh-store` opens a new, empty
/// store under its own Keychain key, so a test run never touches the ward's cases.
enum UITestSupport {
    static var freshStore: Bool { ProcessInfo.processInfo.arguments.contains("-uitest-fresh-store") }
}

/// The case status as a small capsule, read out as "Status: Draft".
struct StatusBadge: View {
    let status: CaseStatus

    var body: some View {
        let key: LocalizedStringKey = switch status {
        case .draft: "status_draft"
        case .complete: "status_complete"
        case .signed: "status_signed"
        }
        Text(key)
            .font(.caption.bold())
            .padding(.horizontal, 8).padding(.vertical, 4)
            .background(status == .draft ? Color.secondary.opacity(0.2) : status == .complete ? Color.teal.opacity(0.25) : Color.orange.opacity(0.25), in: Capsule())
            .accessibilityLabel(Text("status_prefix") + Text(" ") + Text(key))
    }
}

/// A :core-ui-style message as an alert-free banner.
struct MessageBanner: View {
    let message: UiMessage

    var body: some View {
        Text(message.text)
            .padding()
            .frame(maxWidth: .infinity, alignment: .leading)
            .background(message.isError ? Color.red.opacity(0.15) : Color.teal.opacity(0.15), in: RoundedRectangle(cornerRadius: 8))
            .accessibilityAddTraits(.updatesFrequently)
            .accessibilityIdentifier("banner")
    }
}

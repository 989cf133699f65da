import SwiftUI
import WardCRF
import WardCRFUI

/// Opens the store (Keychain-wrapped key, in Application Support excluded from backups), asks
/// who is entering data, then shows the case list. The core's log records (sync counts and
/// durations) go to the unified log.
@main
struct WardCRFApp: App {
    @StateObject private var session = AppSession()

    init() {
        OSLogSink.install()
    }

    var body: some Scene {
        WindowGroup {
            RootView().environmentObject(session)
        }
    }
}

@MainActor
final class AppSession: ObservableObject {
    @Published private(set) var store: WardStore?
    @Published private(set) var failure: String?
    @AppStorage("user") var user: String = ""
    let lang = Language.preferred

    func open() async {
        failure = nil
        do {
            var dir = try FileManager.default.url(for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
                .appendingPathComponent("case-store", isDirectory: true)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            var values = URLResourceValues()
            values.isExcludedFromBackup = true
            try dir.setResourceValues(values)
            store = try await WardStore.openOrCreate(in: dir, key: KeychainKeyProvider(), user: user)
        } catch {
            failure = Messages.forError(error, lang).text
        }
    }

    func setUser(_ name: String) {
        user = name
        store?.user = name
    }
}

struct RootView: View {
    @EnvironmentObject private var session: AppSession
    @State private var askUser = false

    var body: some View {
        Group {
            if let failure = session.failure {
                VStack(spacing: 16) {
                    Text("store_error_title").font(.title2).accessibilityAddTraits(.isHeader)
                    Text(failure)
                    Button("retry") { Task { await session.open() } }.buttonStyle(.borderedProminent)
                }
                .padding()
            } else if let store = session.store {
                NavigationStack {
                    CaseListView(store: store, lang: session.lang, onUser: { askUser = true })
                }
            } else {
                ProgressView("loading")
            }
        }
        .task { await session.open() }
        .sheet(isPresented: Binding(get: { askUser || (session.store != nil && session.user.isEmpty) }, set: { askUser = $0 })) {
            UserSheet(current: session.user) { name in
                session.setUser(name)
                askUser = false
            }
            .interactiveDismissDisabled(session.user.isEmpty)
        }
    }
}

/// Who is entering data: recorded with every change in the audit trail.
struct UserSheet: View {
    @State var name: String
    let onSave: (String) -> Void

    init(current: String, onSave: @escaping (String) -> Void) {
        _name = State(initialValue: current)
        self.onSave = onSave
    }

    var body: some View {
        NavigationStack {
            Form {
                Section(footer: Text("user_explain")) {
                    TextField("user_label", text: $name)
                        .textContentType(.name)
                }
            }
            .navigationTitle("user_title")
            .toolbar {
                ToolbarItem(placement: .confirmationAction) {
                    Button("save") { onSave(name.trimmingCharacters(in: .whitespaces)) }
                        .disabled(name.trimmingCharacters(in: .whitespaces).isEmpty)
                }
            }
        }
    }
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
    }
}

import SwiftUI
import WardCRF
import WardCRFUI

/// The ward's cases with status and conflict badges; new cases; ways to sync and review.
struct CaseListView: View {
    let store: WardStore
    let lang: Language
    let onUser: () -> Void
    @ObservedObject var sync: SyncCoordinator
    @StateObject private var model: CaseListViewModel
    @StateObject private var pin: PinViewModel
    @State private var settingPin = false
    @State private var creating = false
    @State private var opened: String?
    /// The case open in this scene, to open it again when iOS brings the scene back.
    @SceneStorage("cases.open") private var openCase: String?

    init(store: WardStore, sync: SyncCoordinator, lang: Language, onUser: @escaping () -> Void) {
        self.store = store
        self.sync = sync
        self.lang = lang
        self.onUser = onUser
        _model = StateObject(wrappedValue: CaseListViewModel(store: store, lang: lang))
        _pin = StateObject(wrappedValue: PinViewModel(store: store, lang: lang))
    }

    var body: some View {
        List {
            Picker("filter_label", selection: $model.filter) {
                Text("filter_all").tag(CaseListFilter.all)
                Text("filter_draft").tag(CaseListFilter.draft)
                Text("filter_complete").tag(CaseListFilter.complete)
                Text("filter_signed").tag(CaseListFilter.signed)
                Text("filter_conflicts").tag(CaseListFilter.conflicts)
            }
            .pickerStyle(.segmented)
            if let message = model.message { MessageBanner(message: message) }
            // The outcome of Set PIN / Remove PIN (errors of Set PIN show in its sheet).
            if !settingPin, let message = pin.message { MessageBanner(message: message) }
            if model.pendingSync > 0 {
                Text("sync_pending \(model.pendingSync)").font(.caption).foregroundStyle(.secondary)
                    .accessibilityIdentifier("cases.pending")
            }
            if !model.loading && model.rows.isEmpty { Text("no_cases").foregroundStyle(.secondary) }
            ForEach(model.rows) { row in
                NavigationLink(value: row.caseId) {
                    HStack {
                        VStack(alignment: .leading, spacing: 2) {
                            Text(row.label).font(.headline)
                            Text(row.formTitle).font(.subheadline)
                            Text("case_updated \(row.updated)").font(.caption).foregroundStyle(.secondary)
                        }
                        Spacer()
                        if row.pendingSync {
                            Image(systemName: "icloud.and.arrow.up").foregroundStyle(.secondary)
                                .accessibilityLabel(Text("case_not_synced"))
                        }
                        if row.hasConflicts {
                            Image(systemName: "exclamationmark.triangle.fill").foregroundStyle(.orange)
                                .accessibilityLabel(Text("badge_conflicts"))
                        }
                        StatusBadge(status: row.status)
                    }
                }
            }
        }
        .navigationTitle("cases_title")
        .navigationDestination(for: String.self) { caseId in
            caseForm(caseId)
        }
        .navigationDestination(isPresented: Binding(get: { opened != nil }, set: { if !$0 { opened = nil } })) {
            if let opened { caseForm(opened) }
        }
        .toolbar {
            ToolbarItemGroup(placement: .topBarTrailing) {
                Button(action: onUser) { Image(systemName: "person.crop.circle") }.accessibilityLabel(Text("action_user"))
                NavigationLink { ConflictReviewView(store: store, caseId: nil, lang: lang) } label: {
                    Image(systemName: "exclamationmark.triangle")
                }.accessibilityLabel(Text("action_conflicts"))
                NavigationLink { SyncView(model: sync, store: store, lang: lang) } label: {
                    Image(systemName: sync.running ? "arrow.triangle.2.circlepath.circle.fill" : "arrow.triangle.2.circlepath")
                }.accessibilityLabel(Text("action_sync")).accessibilityIdentifier("cases.sync")
                Menu {
                    Button { pin.open(); settingPin = true } label: { Label("pin_set_action", systemImage: "key") }
                    Button(role: .destructive) { Task { await pin.removePin() } } label: {
                        Label("pin_remove_action", systemImage: "trash")
                    }
                } label: {
                    Image(systemName: "ellipsis.circle")
                }.accessibilityLabel(Text("action_more"))
            }
            ToolbarItem(placement: .bottomBar) {
                Button { creating = true } label: { Label("new_case", systemImage: "plus") }
                    .accessibilityIdentifier("cases.new")
            }
        }
        .sheet(isPresented: $settingPin, onDismiss: { if !pin.done { pin.message = nil } }) {
            PinSheet(model: pin) { settingPin = false }
        }
        .sheet(isPresented: $creating) {
            NewCaseSheet(model: model) { id in
                creating = false
                opened = id
            }
        }
        .refreshable { await model.refresh() }
        .task {
            if opened == nil, let openCase { opened = openCase }
            await model.refresh()
        }
        .onChange(of: model.filter) { _ in Task { await model.refresh() } }
        // A sync (from any trigger) may have brought cases or conflicts.
        .onChange(of: sync.summary) { summary in if summary != nil { Task { await model.refresh() } } }
    }
}

extension CaseListView {
    /// A case's form; remembered for the scene while it is open.
    func caseForm(_ caseId: String) -> some View {
        FormEntryView(store: store, caseId: caseId, lang: lang)
            .onAppear { openCase = caseId }
            .onDisappear { if openCase == caseId { openCase = nil } }
    }
}

struct NewCaseSheet: View {
    @ObservedObject var model: CaseListViewModel
    let onCreated: (String) -> Void
    @State private var form: String?
    @State private var modules: Set<String> = []
    @Environment(\.dismiss) private var dismiss

    var body: some View {
        NavigationStack {
            Form {
                Section("new_case_form") {
                    Picker("new_case_form", selection: $form) {
                        ForEach(model.coreForms, id: \.formId) { Text($0.title).tag(Optional($0.formId)) }
                    }
                    .pickerStyle(.inline)
                    .labelsHidden()
                }
                if let form, !model.modules(for: form).isEmpty {
                    Section("new_case_modules") {
                        ForEach(model.modules(for: form), id: \.formId) { m in
                            Toggle(m.title, isOn: Binding(
                                get: { modules.contains(m.formId) },
                                set: { on in if on { modules.insert(m.formId) } else { modules.remove(m.formId) } }))
                        }
                    }
                }
            }
            .navigationTitle("new_case")
            .toolbar {
                ToolbarItem(placement: .cancellationAction) { Button("cancel") { dismiss() } }
                ToolbarItem(placement: .confirmationAction) {
                    Button("create") {
                        guard let form else { return }
                        Task { if let id = await model.create(formId: form, modules: Array(modules)) { onCreated(id) } }
                    }
                    .accessibilityIdentifier("newcase.create")
                    .disabled(form == nil)
                }
            }
            .onAppear { form = form ?? model.coreForms.first?.formId }
        }
    }
}

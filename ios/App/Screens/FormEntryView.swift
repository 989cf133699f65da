import SwiftUI
import WardCRF
import WardCRFUI

/// Form entry of one case, section by section, rendered from the core's form session: only the
/// sections and fields the answers show, each with its state and messages; repeating rows;
/// values left in fields the answers now hide, with a way to clear them; what blocks completion
/// and a jump to the next missing field; a reason sheet for unusual values and changes.
struct FormEntryView: View {
    @StateObject private var model: FormEntryViewModel
    @State private var showConflicts = false
    /// Typed-but-unsaved input of this scene, sealed (DraftArchive): back after iOS ended the app.
    @SceneStorage("form.drafts") private var draftArchive = Data()
    @Environment(\.scenePhase) private var scenePhase
    let store: WardStore
    let lang: Language

    init(store: WardStore, caseId: String, lang: Language) {
        self.store = store
        self.lang = lang
        _model = StateObject(wrappedValue: FormEntryViewModel(store: store, caseId: caseId, lang: lang))
    }

    var body: some View {
        VStack(spacing: 0) {
            ScrollView(.horizontal, showsIndicators: false) {
                HStack {
                    ForEach(Array(model.tabs.enumerated()), id: \.element.id) { index, tab in
                        Button { model.select(section: index) } label: {
                            HStack(spacing: 4) {
                                Text(tab.label)
                                if tab.problems > 0 { CountBadge(count: tab.problems, color: .red) }
                                else if tab.missing > 0 { CountBadge(count: tab.missing, color: .gray) }
                                else if tab.requiredFields > 0 { Image(systemName: "checkmark.circle.fill").foregroundStyle(.teal) }
                            }
                        }
                        .buttonStyle(.bordered)
                        .tint(index == model.current ? .accentColor : .secondary)
                        .accessibilityLabel(Text("section_progress \(tab.label) \(tab.problems) \(tab.missing)"))
                        .accessibilityAddTraits(index == model.current ? .isSelected : [])
                        .accessibilityIdentifier("section.\(tab.id)")
                    }
                }
                .padding(.horizontal)
            }
            .padding(.vertical, 8)
            if model.busy { ProgressView().progressViewStyle(.linear) }
            Form {
                if let message = model.message { MessageBanner(message: message) }
                if !model.hiddenValues.isEmpty { HiddenValuesSection(model: model) }
                if model.status == .draft, let missing = model.nextMissing {
                    Button { model.show(missing) } label: {
                        Label(String(format: NSLocalizedString("next_missing %@", comment: ""), model.field(missing)?.label ?? missing.field),
                              systemImage: "arrow.forward.circle")
                    }
                    .accessibilityIdentifier("form.next_missing")
                }
                if let section = model.sections[safe: model.current] {
                    Section(header: Text(section.label).font(.headline).accessibilityAddTraits(.isHeader),
                            footer: section.help.map { Text($0) }) {
                        ForEach(Array(section.items.enumerated()), id: \.offset) { _, item in
                            switch item {
                            case let .field(field):
                                FieldRow(model: model, field: field, editable: !model.busy, onConflict: { showConflicts = true })
                            case let .group(group):
                                GroupRows(model: model, group: group, onConflict: { showConflicts = true })
                            }
                        }
                    }
                }
                if model.status == .draft && !model.completionProblems.isEmpty {
                    Section("completion_problems") {
                        ForEach(Array(model.completionProblems.enumerated()), id: \.offset) { _, issue in
                            Text(issue.message).font(.caption).foregroundStyle(issue.code == .required ? Color.secondary : Color.red)
                        }
                    }
                }
            }
        }
        .navigationTitle(model.title)
        .navigationBarTitleDisplayMode(.inline)
        .toolbar {
            ToolbarItemGroup(placement: .topBarTrailing) {
                if model.conflictCount > 0 {
                    Button { showConflicts = true } label: {
                        Label("\(model.conflictCount)", systemImage: "exclamationmark.triangle.fill")
                    }
                    .accessibilityLabel(Text("review_conflicts \(model.conflictCount)"))
                }
                Menu {
                    if model.status == .draft {
                        Button("mark_complete") { Task { await model.markComplete() } }.accessibilityIdentifier("form.complete")
                    }
                    if model.status == .complete { Button("sign") { Task { await model.askToSign() } } }
                    if model.status != .draft { Button("reopen") { model.reopen() } }
                } label: {
                    StatusBadge(status: model.status)
                }
                .accessibilityLabel(Text("status_menu"))
                .accessibilityIdentifier("form.status")
            }
            ToolbarItemGroup(placement: .bottomBar) {
                Button { model.select(section: model.current - 1) } label: { Label("section_previous", systemImage: "chevron.left") }
                    .disabled(model.current == 0)
                Spacer()
                Button { model.select(section: model.current + 1) } label: { Label("section_next", systemImage: "chevron.right") }
                    .disabled(model.current >= model.sections.count - 1)
            }
        }
        .sheet(isPresented: Binding(get: { model.reasonPrompt != nil }, set: { if !$0 { model.cancelReason() } })) {
            ReasonSheet(model: model)
        }
        .sheet(isPresented: Binding(get: { model.signMeanings != nil }, set: { if !$0 { model.signMeanings = nil } })) {
            SignSheet(model: model, lang: lang)
        }
        .confirmationDialog("complete_hidden_title",
                            isPresented: Binding(get: { model.completionChoice != nil }, set: { if !$0 { model.completionChoice = nil } }),
                            titleVisibility: .visible) {
            Button("complete_keep_hidden") { Task { await model.completeKeepingHidden() } }
            Button("complete_clear_hidden", role: .destructive) { model.completeClearingHidden() }
            Button("cancel", role: .cancel) { model.completionChoice = nil }
        } message: {
            Text((model.completionChoice?.values ?? []).map { "\($0.label): \($0.shown)" }.joined(separator: "\n"))
        }
        .navigationDestination(isPresented: $showConflicts) {
            ConflictReviewView(store: store, caseId: model.caseId, lang: lang)
        }
        .task {
            await model.load()
            await model.restore(DraftArchive.drafts(caseId: model.caseId, in: draftArchive, key: DraftKey.provider))
        }
        .onChange(of: scenePhase) { phase in
            if phase != .active { keepDrafts() }
        }
        .onDisappear { keepDrafts() }
    }

    private func keepDrafts() {
        draftArchive = DraftArchive.store(model.drafts, caseId: model.caseId, in: draftArchive, key: DraftKey.provider)
    }
}

/// The Keychain key that seals drafts kept for the scene (not the store's key).
enum DraftKey {
    static let provider = KeychainKeyProvider(account: "wardcrf-drafts-key")
}

struct CountBadge: View {
    let count: Int
    let color: Color
    var body: some View {
        Text("\(count)").font(.caption2.bold()).foregroundStyle(.white)
            .padding(.horizontal, 6).padding(.vertical, 2).background(color, in: Capsule())
    }
}

/// Values left in fields the other answers now hide: not an error; listed, with a way to clear
/// them all in one change with a reason (completion also asks).
struct HiddenValuesSection: View {
    @ObservedObject var model: FormEntryViewModel

    var body: some View {
        Section(header: Text("hidden_values_title"), footer: Text("hidden_values_explain")) {
            ForEach(model.hiddenValues, id: \.path) { value in
                LabeledContent(value.label, value: value.shown)
            }
            if model.status == .draft {
                Button("hidden_values_clear", role: .destructive) { model.askToClearHidden() }
                    .disabled(model.busy)
                    .accessibilityIdentifier("form.clear_hidden")
            }
        }
    }
}

/// One shown field, by kind, with its messages, what is stored, and a conflict marker.
struct FieldRow: View {
    @ObservedObject var model: FormEntryViewModel
    let field: SessionField
    let editable: Bool
    let onConflict: () -> Void
    @FocusState private var focused: Bool

    private var path: FieldPath { field.path }
    private var label: String { field.required ? "\(field.label) *" : field.label }

    var body: some View {
        VStack(alignment: .leading, spacing: 4) {
            input
            notes
        }
        .disabled(!editable)
    }

    private var text: Binding<String> {
        Binding(get: { model.draft(path).text }, set: { new in Task { await model.edit(path, text: new) } })
    }

    @ViewBuilder private var input: some View {
        switch field.kind {
        case .choice:
            Picker(label, selection: Binding<String>(
                get: { if case let .choice(code)? = field.answer { return code } else { return "" } },
                set: { code in Task { await model.choose(path, code.isEmpty ? nil : .choice(code: code)) } })) {
                Text("choose").tag("")
                ForEach(field.choices, id: \.code) { Text($0.label).tag($0.code) }
            }
        case .multichoice:
            Text(label).font(.subheadline.bold())
            let codes = selectedCodes
            ForEach(field.choices, id: \.code) { choice in
                Toggle(choice.label, isOn: Binding(get: { codes.contains(choice.code) }, set: { on in
                    let next = on ? codes.union([choice.code]) : codes.subtracting([choice.code])
                    let ordered = field.choices.map(\.code).filter { next.contains($0) }
                    Task { await model.choose(path, ordered.isEmpty ? nil : .choices(codes: ordered)) }
                }))
            }
        case .boolean:
            Picker(label, selection: Binding<Bool?>(
                get: { if case let .boolean(value)? = field.answer { return value } else { return nil } },
                set: { value in Task { await model.choose(path, value.map { .boolean(value: $0) }) } })) {
                Text("—").tag(Bool?.none)
                Text("yes").tag(Bool?.some(true))
                Text("no").tag(Bool?.some(false))
            }
            .pickerStyle(.segmented)
            .accessibilityLabel(label)
        case .date:
            HStack {
                DateEntry(label: label, partial: field.partialDate, text: text)
                saveButtons
            }
        case .datetime:
            HStack {
                DateTimeEntry(label: label, text: text)
                saveButtons
            }
        case .integer, .decimal, .text:
            HStack {
                TextField(label, text: text)
                    .keyboardType(field.kind == .text ? .default
                        : NumberKeyboard.forField(integer: field.kind == .integer, minimum: field.hardLimits?.min).uiKeyboard)
                    .focused($focused)
                    .accessibilityIdentifier("field.\(path.field)")
                    .onSubmit { Task { await model.commit(path) } }
                    .onChange(of: focused) { isFocused in
                        if !isFocused && model.isDirty(path) { Task { await model.commit(path) } }
                    }
                    .accessibilityLabel(label)
                if !field.units.isEmpty {
                    UnitMenu(fieldLabel: field.label, units: UnitOrder.ordered(field.units, defaultUnit: field.defaultUnit), selection: Binding(
                        get: { model.draft(path).unit ?? field.defaultUnit ?? field.unit?.code ?? "" },
                        set: { code in Task { await model.selectUnit(path, unit: code) } }))
                }
                saveButtons
            }
        }
    }

    /// The codes ticked in a multiple choice.
    private var selectedCodes: Set<String> {
        if case let .choices(codes)? = field.answer { return Set(codes) }
        return []
    }

    @ViewBuilder private var saveButtons: some View {
        if model.isDirty(path) {
            Button { model.discard(path) } label: { Image(systemName: "xmark.circle") }
                .accessibilityLabel(Text("field_discard \(field.label)"))
            Button { Task { await model.commit(path) } } label: { Image(systemName: "checkmark.circle.fill") }
                .accessibilityLabel(Text("field_save \(field.label)"))
                .accessibilityIdentifier("field.\(path.field).save")
        }
    }

    @ViewBuilder private var notes: some View {
        if let error = model.inputErrors[path] { Note(icon: "xmark.octagon.fill", text: error.text, color: .red) }
        switch model.severity(path) {
        case .warning where model.isDirty(path):
            if let range = AnswerInput.expectedRange(field, .preferred) { Note(icon: "exclamationmark.triangle.fill", text: range, color: .orange) }
        case .error where model.isDirty(path) && model.inputErrors[path] == nil:
            Note(icon: "xmark.octagon.fill", text: NSLocalizedString("field_out_of_range", comment: ""), color: .red)
        case .missing where !model.isDirty(path):
            Note(icon: nil, text: NSLocalizedString("field_required", comment: ""), color: .secondary)
        default:
            EmptyView()
        }
        ForEach(Array(model.messages(path).enumerated()), id: \.offset) { _, m in
            Note(icon: m.warning ? "exclamationmark.triangle.fill" : "xmark.octagon.fill", text: m.message,
                 color: m.warning && field.state == .confirmed ? .secondary : m.warning ? .orange : .red)
        }
        if let confirmed = field.confirmation {
            Note(icon: "checkmark", text: String(format: NSLocalizedString("field_confirmed %@", comment: ""), confirmed), color: .secondary)
        }
        if let stored = model.storedDisplay(path), model.isDirty(path) || field.entered != nil {
            Note(icon: nil, text: String(format: NSLocalizedString("field_saved %@", comment: ""), stored), color: .secondary)
        }
        if let help = field.help { Text(help).font(.caption).foregroundStyle(.secondary) }
        if field.state == .conflict {
            Button(action: onConflict) { Label("field_conflicted", systemImage: "exclamationmark.triangle") }
                .font(.caption).tint(.orange)
        }
    }
}

struct Note: View {
    let icon: String?
    let text: String
    let color: Color
    var body: some View {
        HStack(alignment: .firstTextBaseline, spacing: 4) {
            if let icon { Image(systemName: icon).accessibilityHidden(true) }
            Text(text)
        }
        .font(.caption)
        .foregroundStyle(color)
    }
}

/// A shown repeating group: its rows (each with its shown fields and a remove button) and
/// "add a row" while the group allows one.
struct GroupRows: View {
    @ObservedObject var model: FormEntryViewModel
    let group: SessionGroup
    let onConflict: () -> Void

    var body: some View {
        Text(group.label).font(.headline).accessibilityAddTraits(.isHeader)
        if let help = group.help { Text(help).font(.caption).foregroundStyle(.secondary) }
        if group.rows.isEmpty { Text("no_rows").foregroundStyle(.secondary) }
        ForEach(Array(group.rows.enumerated()), id: \.element.rowId) { index, row in
            VStack(alignment: .leading) {
                HStack {
                    Text("row_title \(index + 1)").font(.subheadline.bold())
                    Spacer()
                    Button(role: .destructive) { model.removeRow(group.id, rowId: row.rowId) } label: { Image(systemName: "trash") }
                        .accessibilityLabel(Text("remove_row \(index + 1)"))
                        .disabled(model.status != .draft || model.busy)
                }
                ForEach(row.fields, id: \.path) { field in
                    FieldRow(model: model, field: field, editable: model.status == .draft && !model.busy, onConflict: onConflict)
                }
            }
            .padding(.vertical, 4)
        }
        if model.status == .draft && group.canAddRow {
            Button { Task { await model.addRow(group.id) } } label: { Label("add_row \(group.label)", systemImage: "plus") }
                .disabled(model.busy)
        }
    }
}

/// Asks the reason that confirms an unusual value, or explains a change, a removal, a reopening.
/// The electronic signature: the signer types their password again (a PIN is not enough) and
/// chooses what the signature means from the site's meanings.
struct SignSheet: View {
    @ObservedObject var model: FormEntryViewModel
    let lang: Language
    @State private var password = ""
    @State private var meaning: String?

    var body: some View {
        NavigationStack {
            Form {
                Section(footer: Text("sign_explain")) {
                    Picker("sign_meaning", selection: $meaning) {
                        ForEach(model.signMeanings ?? [], id: \.code) { m in
                            Text(label(m)).tag(Optional(m.code))
                        }
                    }
                    .pickerStyle(.inline)
                    SecureField("signin_password", text: $password)
                        .textContentType(.password)
                }
                if let message = model.message, message.isError {
                    Section { Text(message.text).foregroundStyle(.red) }
                }
            }
            .navigationTitle("sign_title")
            .toolbar {
                ToolbarItem(placement: .cancellationAction) { Button("cancel") { model.signMeanings = nil } }
                ToolbarItem(placement: .confirmationAction) {
                    Button("sign") {
                        guard let meaning else { return }
                        let typed = password
                        password = ""
                        Task { await model.sign(password: typed, meaning: meaning) }
                    }
                    .disabled(password.isEmpty || meaning == nil || model.busy)
                }
            }
            .onAppear { meaning = model.signMeanings?.first?.code }
        }
        .presentationDetents([.medium, .large])
    }

    private func label(_ m: SignatureMeaning) -> String {
        switch lang {
        case .en: return m.en
        case .ja: return m.ja
        case .de: return m.de
        }
    }
}

struct ReasonSheet: View {
    @ObservedObject var model: FormEntryViewModel

    var body: some View {
        NavigationStack {
            Form {
                if let prompt = model.reasonPrompt {
                    if let label = prompt.fieldLabel { Text(label).font(.headline) }
                    ForEach(prompt.warnings, id: \.self) { Text($0).foregroundStyle(.orange) }
                    Section(footer: prompt.blankRejected ? Text("reason_needed").foregroundStyle(.red) : nil) {
                        TextField("reason_label", text: Binding(
                            get: { model.reasonPrompt?.reason ?? "" },
                            set: { model.reasonPrompt?.reason = $0; model.reasonPrompt?.blankRejected = false }),
                                  axis: .vertical)
                            .lineLimit(2...5)
                    }
                }
            }
            .navigationTitle(title)
            .toolbar {
                ToolbarItem(placement: .cancellationAction) { Button("cancel") { model.cancelReason() } }
                ToolbarItem(placement: .confirmationAction) { Button("confirm") { Task { await model.submitReason() } } }
            }
        }
        .presentationDetents([.medium])
    }

    private var title: LocalizedStringKey {
        switch model.reasonPrompt?.kind {
        case .confirmWarning?: return "reason_title_warning"
        case .change?: return "reason_title_change"
        case .removeRow?: return "reason_title_remove"
        case .clearHidden?, .completeClearingHidden?: return "reason_title_clear_hidden"
        case .reopen?, nil: return "reason_title_reopen"
        }
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}

import Foundation
import WardCRF

public enum Severity: Int, Comparable, Sendable {
    case none, missing, warning, error
    public static func < (a: Severity, b: Severity) -> Bool { a.rawValue < b.rawValue }
}

public enum ReasonKind: Sendable {
    /// A value outside its expected range: the reason confirms it.
    case confirmWarning
    /// A change of an earlier entry, or an edit of a complete or signed case.
    case change
    case removeRow
    case reopen
    /// Clearing the values left in fields the answers now hide (one audited change).
    case clearHidden
    /// Completing a case, clearing the values left in hidden fields.
    case completeClearingHidden
}

public struct ReasonPrompt: Equatable {
    public let kind: ReasonKind
    public let path: FieldPath?
    public let fieldLabel: String?
    /// What the reason answers, in the user's language.
    public let warnings: [String]
    public var reason: String = ""
    public var blankRejected = false
}

/// Completing a case whose hidden fields still hold values: keep them, or clear them (with a
/// reason). `values` are the session's hidden values.
public struct CompletionChoice: Equatable {
    public let values: [HiddenValue]
}

public struct SectionTab: Equatable, Identifiable {
    public let id: String
    public let label: String
    public let problems: Int
    public let requiredFields: Int
    public let requiredAnswered: Int
    public var missing: Int { requiredFields - requiredAnswered }
}

/// Form entry of one case, rendered from the core's form session: the sections the answers
/// show, each field's typed answer, state and messages, rows, values left in hidden fields,
/// section progress, the next missing field and what blocks completion. Every edit returns the
/// new session. What this model keeps itself is only what the clinician typed and has not saved
/// (drafts), read into a typed answer when saved, and the reason prompts.
/// The Swift counterpart of Android's `FormEntryModel`.
@MainActor
public final class FormEntryViewModel: ObservableObject {
    @Published public private(set) var session: FormSession?
    /// The section on screen, by id: an answer that shows or hides another section keeps the
    /// clinician where they are.
    @Published public private(set) var currentSection: String?
    @Published public private(set) var drafts: [FieldPath: Draft] = [:]
    @Published public private(set) var inputErrors: [FieldPath: UiMessage] = [:]
    @Published public var reasonPrompt: ReasonPrompt?
    /// Asks what to do with values in hidden fields before completing; nil while not asked.
    @Published public var completionChoice: CompletionChoice?
    /// The sign dialog's meanings (the site's), or nil while it is closed.
    @Published public var signMeanings: [SignatureMeaning]?
    @Published public var message: UiMessage?
    @Published public private(set) var busy = false

    public let caseId: String
    private let store: WardStore
    private let lang: Language

    public init(store: WardStore, caseId: String, lang: Language) {
        self.store = store
        self.caseId = caseId
        self.lang = lang
    }

    public var sections: [SessionSection] { session?.sections ?? [] }
    public var title: String { session?.title ?? "" }
    public var status: CaseStatus { session?.status ?? .draft }
    public var conflictCount: Int { Int(session?.conflicts ?? 0) }
    public var hiddenValues: [HiddenValue] { session?.hiddenValues ?? [] }
    public var completionProblems: [ValidationIssue] { session?.completionProblems ?? [] }
    public var nextMissing: FieldPath? { session?.nextMissing }

    public func load() async {
        let (caseId, lang) = (self.caseId, self.lang)
        do {
            accept(try await store.call { try $0.formSession(caseId: caseId, lang: lang) })
        } catch {
            message = Messages.forError(error, lang)
        }
    }

    /// The index of the section on screen in `sections`.
    public var current: Int { sections.firstIndex { $0.id == currentSection } ?? 0 }

    public func select(section index: Int) {
        guard !sections.isEmpty else { return }
        currentSection = sections[max(0, min(index, sections.count - 1))].id
    }

    /// Shows the section that holds `path` (the next missing field, a problem).
    public func show(_ path: FieldPath) {
        if let section = sections.first(where: { s in s.items.contains { Self.fields(of: $0).contains { $0.path == path } } }) {
            currentSection = section.id
        }
    }

    public var tabs: [SectionTab] {
        sections.map { s in
            SectionTab(id: s.id, label: s.label, problems: Int(s.progress.problems),
                       requiredFields: Int(s.progress.required), requiredAnswered: Int(s.progress.requiredAnswered))
        }
    }

    // MARK: fields

    private static func fields(of item: SessionItem) -> [SessionField] {
        switch item {
        case let .field(field): return [field]
        case let .group(group): return group.rows.flatMap(\.fields)
        }
    }

    /// The shown field at `path` (a row's field included); nil when the answers hide it.
    public func field(_ path: FieldPath) -> SessionField? {
        for s in sections {
            for item in s.items {
                if let f = Self.fields(of: item).first(where: { $0.path == path }) { return f }
            }
        }
        return nil
    }

    /// What the field's input shows: the draft, else the stored answer as it was entered,
    /// else nothing in the unit a new entry starts in.
    public func draft(_ path: FieldPath) -> Draft {
        if let d = drafts[path] { return d }
        guard let f = field(path) else { return Draft(text: "", unit: nil) }
        return AnswerInput.draft(f)
    }

    public func isDirty(_ path: FieldPath) -> Bool { drafts[path] != nil }

    /// The stored value as a person reads it (`38.5 °C (entered 101.3 °F)`), or nil when empty.
    public func storedDisplay(_ path: FieldPath) -> String? {
        guard let f = field(path), let shown = f.shown else { return nil }
        guard let entered = f.entered else { return shown }
        let unit = f.units.first { $0.code == entered.unit }?.display ?? entered.unit
        return "\(shown) (\(Values.enteredWord(lang)) \(AnswerInput.number(entered.value)) \(unit))"
    }

    /// The field's messages (errors and warnings) in the user's language.
    public func messages(_ path: FieldPath) -> [FieldMessage] { field(path)?.messages ?? [] }

    /// How the field stands: a draft that cannot be read, or one outside the field's limits
    /// (in the field's own unit), before it is saved; else the session's state.
    public func severity(_ path: FieldPath) -> Severity {
        if inputErrors[path] != nil { return .error }
        guard let f = field(path) else { return .none }
        if let d = drafts[path], let hint = AnswerInput.limitHint(f, d) { return hint }
        switch f.state {
        case .error, .conflict: return .error
        case .needsReason: return .warning
        case .empty: return f.required ? .missing : .none
        case .valid, .confirmed: return .none
        }
    }

    public func isConflicted(_ path: FieldPath) -> Bool { field(path)?.state == .conflict }

    // MARK: editing

    /// The user typed into a field: keep the draft (checked as it is typed, saved on commit).
    public func edit(_ path: FieldPath, text: String) async {
        var d = draft(path)
        d.text = text
        changed(path, d)
    }

    public func selectUnit(_ path: FieldPath, unit: String) async {
        var d = draft(path)
        d.unit = unit
        changed(path, d)
    }

    /// Brings back drafts typed before the app was ended (`DraftArchive`), for fields the
    /// session still shows; they are checked as if just typed.
    public func restore(_ archived: [FieldPath: Draft]) async {
        for (path, d) in archived where field(path) != nil { changed(path, d) }
    }

    public func discard(_ path: FieldPath) {
        drafts[path] = nil
        inputErrors[path] = nil
    }

    private func changed(_ path: FieldPath, _ d: Draft) {
        guard let f = field(path) else { return }
        drafts[path] = d
        if case let .invalid(key) = AnswerInput.read(f, d) { inputErrors[path] = Messages.error(key, lang) } else { inputErrors[path] = nil }
    }

    /// Saves a field's draft; a warning or a change asks for a reason first.
    public func commit(_ path: FieldPath) async {
        await save(path, reason: nil)
    }

    /// Saves a picked answer at once (a choice, yes/no, the boxes of a multiple choice); nil
    /// clears the field.
    public func choose(_ path: FieldPath, _ answer: AnswerValue?) async {
        guard let f = field(path) else { return }
        drafts[path] = AnswerInput.draft(f, answer: answer)
        await save(path, reason: nil)
    }

    private func save(_ path: FieldPath, reason: String?) async {
        guard let f = field(path), let d = drafts[path] else { return }
        let answer: AnswerValue?
        let unit: String?
        switch AnswerInput.read(f, d) {
        case let .invalid(key):
            inputErrors[path] = Messages.error(key, lang)
            return
        case .empty:
            (answer, unit) = (nil, nil)
        case let .answer(value, entryUnit):
            (answer, unit) = (value, entryUnit)
        }
        busy = true
        defer { busy = false }
        let (caseId, lang) = (self.caseId, self.lang)
        do {
            let next = try await store.call {
                try $0.setAnswer(caseId: caseId, path: path, answer: answer, lang: lang, unit: unit, reason: reason)
            }
            drafts[path] = nil
            inputErrors[path] = nil
            reasonPrompt = nil
            accept(next)
        } catch WardcrfError.NeedsConfirmation {
            reasonPrompt = ReasonPrompt(kind: .confirmWarning, path: path, fieldLabel: f.label,
                                        warnings: [AnswerInput.expectedRange(f, lang) ?? Messages.error(.needsConfirmation, lang).text],
                                        reason: reason ?? "")
        } catch WardcrfError.ReasonRequired {
            reasonPrompt = ReasonPrompt(kind: .change, path: path, fieldLabel: f.label, warnings: [], reason: reason ?? "")
        } catch {
            message = Messages.forError(error, lang)
        }
    }

    /// Carries out what the reason prompt was for, with its reason.
    public func submitReason() async {
        guard var prompt = reasonPrompt else { return }
        let reason = prompt.reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty else {
            prompt.blankRejected = true
            reasonPrompt = prompt
            return
        }
        let (caseId, lang) = (self.caseId, self.lang)
        switch prompt.kind {
        case .confirmWarning, .change:
            if let path = prompt.path { await save(path, reason: reason) }
        case .removeRow:
            guard let group = prompt.path?.group, let rowId = prompt.path?.rowId else { return }
            await act(nil) {
                try $0.removeRow(caseId: caseId, group: group, rowId: rowId, reason: reason)
                return try $0.formSession(caseId: caseId, lang: lang)
            }
        case .reopen:
            await act(.statusChanged) {
                _ = try $0.setStatus(caseId: caseId, status: .draft, reason: reason)
                return try $0.formSession(caseId: caseId, lang: lang)
            }
        case .clearHidden:
            await act(.hiddenCleared) { try $0.clearHidden(caseId: caseId, reason: reason, lang: lang) }
        case .completeClearingHidden:
            completionChoice = nil
            await complete(.clear(reason: reason))
        }
    }

    /// The reason prompt was dismissed: nothing is saved. A picked answer (a choice, yes/no)
    /// is let go too, since its input shows what is stored; typed text stays as a draft.
    public func cancelReason() {
        if let path = reasonPrompt?.path, let f = field(path), [FieldKind.choice, .multichoice, .boolean].contains(f.kind) {
            discard(path)
        }
        reasonPrompt = nil
    }

    public func addRow(_ group: String) async {
        let (caseId, lang) = (self.caseId, self.lang)
        await act(nil) { try $0.addSessionRow(caseId: caseId, group: group, lang: lang, reason: nil) }
    }

    /// Asks the reason a row is removed (it stays in the history).
    public func removeRow(_ group: String, rowId: String) {
        reasonPrompt = ReasonPrompt(kind: .removeRow, path: FieldPath(field: group, group: group, rowId: rowId), fieldLabel: nil, warnings: [])
    }

    /// Asks the reason the values left in hidden fields are cleared.
    public func askToClearHidden() {
        reasonPrompt = ReasonPrompt(kind: .clearHidden, path: nil, fieldLabel: nil, warnings: hiddenValues.map { "\($0.label): \($0.shown)" })
    }

    /// Completes the case. Anything left shows as a message, and the next missing field's
    /// section opens; values in hidden fields first ask whether to keep or clear them.
    public func markComplete() async {
        await complete(.noHiddenValues)
    }

    /// The clinician chose to keep the values left in hidden fields.
    public func completeKeepingHidden() async {
        completionChoice = nil
        await complete(.keep)
    }

    /// The clinician chose to clear them: the reason prompt asks why.
    public func completeClearingHidden() {
        let values = completionChoice?.values ?? hiddenValues
        completionChoice = nil
        reasonPrompt = ReasonPrompt(kind: .completeClearingHidden, path: nil, fieldLabel: nil, warnings: values.map { "\($0.label): \($0.shown)" })
    }

    private func complete(_ hidden: HiddenValueChoice) async {
        let (caseId, lang) = (self.caseId, self.lang)
        busy = true
        defer { busy = false }
        do {
            let next = try await store.call { try $0.complete(caseId: caseId, hidden: hidden, lang: lang) }
            reasonPrompt = nil
            accept(next)
            message = Messages.info(.statusChanged, lang)
        } catch WardcrfError.HiddenValuesPending {
            await load()
            completionChoice = CompletionChoice(values: hiddenValues)
        } catch {
            message = Messages.forError(error, lang)
            if case WardcrfError.NotComplete = error {
                await load()
                if let missing = nextMissing { show(missing) }
            }
        }
    }

    /// Opens the sign dialog with the site's signature meanings.
    public func askToSign() async {
        do {
            signMeanings = try await store.call { try $0.signatureMeanings() }
        } catch {
            message = Messages.forError(error, lang)
        }
    }

    /// Signs the case as the signed-in staff member, who types their password again (a PIN is
    /// not enough), with a meaning code from `signMeanings`. A wrong password keeps the dialog.
    public func sign(password: String, meaning: String) async {
        let (caseId, lang) = (self.caseId, self.lang)
        await act(.signed) {
            _ = try $0.sign(caseId: caseId, password: password, meaning: meaning)
            return try $0.formSession(caseId: caseId, lang: lang)
        }
        if status == .signed { signMeanings = nil }
    }

    public func reopen() {
        reasonPrompt = ReasonPrompt(kind: .reopen, path: nil, fieldLabel: nil, warnings: [])
    }

    /// Runs a store call that ends with the new session.
    private func act(_ done: MessageKey?, _ body: @escaping @Sendable (CaseStore) throws -> FormSession) async {
        busy = true
        defer { busy = false }
        do {
            let next = try await store.call(body)
            reasonPrompt = nil
            message = done.map { Messages.info($0, lang) }
            accept(next)
        } catch {
            message = Messages.forError(error, lang)
        }
    }

    private func accept(_ next: FormSession) {
        let shownBefore = current
        session = next
        if !next.sections.contains(where: { $0.id == currentSection }) {
            // The section on screen is hidden now (or none was chosen): the one at its place.
            currentSection = next.sections.isEmpty ? nil : next.sections[min(shownBefore, next.sections.count - 1)].id
        }
        // Drafts of fields the answers now hide go with them.
        for path in drafts.keys where field(path) == nil {
            drafts[path] = nil
            inputErrors[path] = nil
        }
    }
}

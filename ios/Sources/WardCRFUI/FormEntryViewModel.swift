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
}

public struct ReasonPrompt: Equatable {
    public let kind: ReasonKind
    public let path: FieldPath?
    public let fieldLabel: String?
    /// The warnings it confirms, in the user's language.
    public let warnings: [String]
    public var reason: String = ""
    public var blankRejected = false
}

public struct SectionTab: Equatable, Identifiable {
    public let id: String
    public let label: String
    public let errors: Int
    public let warnings: Int
    public let missing: Int
}

/// Form entry of one case, section by section: drafts validated live with the core's own
/// validation (messages in the user's language), saved field by field, with the reason prompt
/// for a soft warning, a change of an earlier entry, a row removal and a reopening.
/// The Swift counterpart of Android's `FormEntryModel`.
@MainActor
public final class FormEntryViewModel: ObservableObject {
    @Published public private(set) var layout: FormLayout?
    @Published public private(set) var view: CaseView?
    @Published public private(set) var current = 0
    @Published public private(set) var drafts: [FieldPath: Draft] = [:]
    @Published public private(set) var inputErrors: [FieldPath: UiMessage] = [:]
    @Published public private(set) var live: ValidationReport?
    @Published public var reasonPrompt: ReasonPrompt?
    /// The sign dialog's meanings (the site's), or nil while it is closed.
    @Published public var signMeanings: [SignatureMeaning]?
    @Published public var message: UiMessage?
    @Published public private(set) var busy = false

    public let caseId: String
    private let store: WardStore
    private let lang: Language
    private var stored: [String: Any] = [:]
    private var liveTask: Task<Void, Never>?
    private let liveDelay: UInt64

    public init(store: WardStore, caseId: String, lang: Language, liveDelayMillis: UInt64 = 250) {
        self.store = store
        self.caseId = caseId
        self.lang = lang
        self.liveDelay = liveDelayMillis
    }

    public var sections: [SectionLayout] { layout?.sections ?? [] }
    public var report: ValidationReport? { live ?? view?.report }
    public var status: CaseStatus { view?.status ?? .draft }
    public var conflictCount: Int { view?.conflicts.count ?? 0 }

    public func load() async {
        do {
            let (caseId, lang) = (self.caseId, self.lang)
            let v = try await store.call { try $0.viewCase(caseId: caseId, lang: lang) }
            layout = try await store.call { _ in try formLayout(formId: v.formId, modules: v.modules, lang: lang) }
            accept(v)
        } catch {
            message = Messages.forError(error, lang)
        }
    }

    public func select(section index: Int) {
        current = max(0, min(index, sections.count - 1))
    }

    public var tabs: [SectionTab] {
        guard let report else { return [] }
        return sections.map { s in
            func count(_ issues: [ValidationIssue]) -> Int { issues.filter { section(of: $0.group ?? $0.field) == s.id }.count }
            return SectionTab(id: s.id, label: s.label, errors: count(report.errors),
                              warnings: count(report.warnings.filter { $0.confirmed == nil }), missing: count(report.missing))
        }
    }

    // MARK: fields

    public func field(_ path: FieldPath) -> FieldLayout? {
        for s in sections {
            for item in s.items {
                switch item {
                case let .field(field) where field.id == path.field: return field
                case let .group(group):
                    if let f = group.fields.first(where: { $0.id == path.field }) { return f }
                default: continue
                }
            }
        }
        return nil
    }

    public func rows(_ group: String) -> [String] {
        ((stored[group] as? [[String: Any]]) ?? []).compactMap { $0["row_id"] as? String }
    }

    private func storedValue(_ path: FieldPath) -> Any? {
        guard let group = path.group else { return stored[path.field] }
        return (stored[group] as? [[String: Any]])?.first { ($0["row_id"] as? String) == path.rowId }?[path.field]
    }

    public func draft(_ path: FieldPath) -> Draft {
        if let d = drafts[path] { return d }
        guard let f = field(path) else { return Draft(text: "", unit: nil) }
        return Values.draft(f, stored: storedValue(path))
    }

    public func isDirty(_ path: FieldPath) -> Bool { drafts[path] != nil }

    /// The stored value for a person, or nil when empty.
    public func storedDisplay(_ path: FieldPath) -> String? {
        let v = storedValue(path)
        if v == nil || v is NSNull { return nil }
        return Values.display(field(path), v, lang)
    }

    public func issues(_ path: FieldPath) -> [(ValidationIssue, Severity)] {
        guard let report else { return [] }
        func at(_ list: [ValidationIssue], _ s: Severity) -> [(ValidationIssue, Severity)] {
            list.filter { $0.field == path.field && $0.group == path.group && $0.rowId == path.rowId }.map { ($0, s) }
        }
        return at(report.errors, .error) + at(report.warnings, .warning) + at(report.missing, .missing)
    }

    public func severity(_ path: FieldPath) -> Severity {
        if inputErrors[path] != nil { return .error }
        let list = issues(path)
        if list.contains(where: { $0.1 == .error }) { return .error }
        if list.contains(where: { $0.1 == .warning && $0.0.confirmed == nil }) { return .warning }
        if list.contains(where: { $0.1 == .missing }) { return .missing }
        return .none
    }

    public func isConflicted(_ path: FieldPath) -> Bool {
        view?.conflicts.contains { $0.path == path } ?? false
    }

    // MARK: editing

    /// The user typed into a field: keep the draft and validate the case with it, live.
    public func edit(_ path: FieldPath, text: String) async {
        var d = draft(path)
        d.text = text
        await changed(path, d)
    }

    public func selectUnit(_ path: FieldPath, unit: String) async {
        var d = draft(path)
        d.unit = unit
        await changed(path, d)
    }

    /// Brings back drafts typed before the app was ended (`DraftArchive`), for fields the form
    /// still has; they are validated as if just typed.
    public func restore(_ archived: [FieldPath: Draft]) async {
        let known = archived.filter { field($0.key) != nil }
        guard !known.isEmpty else { return }
        for (path, d) in known {
            drafts[path] = d
            if let f = field(path), case let .invalid(key) = Values.read(f, d) { inputErrors[path] = Messages.error(key, lang) }
        }
        await validateNow()
    }

    public func discard(_ path: FieldPath) {
        drafts[path] = nil
        inputErrors[path] = nil
        live = nil
    }

    private func changed(_ path: FieldPath, _ d: Draft) async {
        guard let f = field(path) else { return }
        drafts[path] = d
        if case let .invalid(key) = Values.read(f, d) { inputErrors[path] = Messages.error(key, lang) } else { inputErrors[path] = nil }
        liveTask?.cancel()
        let delay = liveDelay
        let task = Task { [weak self] in
            if delay > 0 { try? await Task.sleep(nanoseconds: delay * 1_000_000) }
            guard !Task.isCancelled else { return }
            await self?.validateNow()
        }
        liveTask = task
        await task.value
    }

    private func validateNow() async {
        guard let v = view else { return }
        let values = Values.json(withDrafts())
        let lang = self.lang
        live = try? await store.call { _ in
            try validateValues(formId: v.formId, valuesJson: values, lang: lang, modules: v.modules, completing: false, today: nil)
        }
    }

    private func withDrafts() -> [String: Any] {
        var values = stored
        for (path, d) in drafts {
            guard let f = field(path) else { continue }
            let value: Any?
            switch Values.read(f, d) {
            case let .value(json, _): value = Values.parse(json)
            case .empty: value = nil
            case .invalid: continue
            }
            if let group = path.group {
                var rows = (values[group] as? [[String: Any]]) ?? []
                for i in rows.indices where (rows[i]["row_id"] as? String) == path.rowId { rows[i][path.field] = value }
                values[group] = rows
            } else {
                values[path.field] = value
            }
        }
        return values
    }

    /// Saves a field's draft; a warning or a change asks for a reason first.
    public func commit(_ path: FieldPath) async {
        await save(path, reason: nil)
    }

    private func save(_ path: FieldPath, reason: String?) async {
        guard let f = field(path), let d = drafts[path] else { return }
        let input = Values.read(f, d)
        if case let .invalid(key) = input {
            inputErrors[path] = Messages.error(key, lang)
            return
        }
        busy = true
        defer { busy = false }
        let caseId = self.caseId
        do {
            _ = try await store.call { ffi -> String in
                switch input {
                case let .value(_, quantity?):
                    return try ffi.setQuantity(caseId: caseId, path: path, value: quantity.value, unit: quantity.unit, reason: reason)
                case let .value(json, nil):
                    return try ffi.setValue(caseId: caseId, path: path, valueJson: json, reason: reason)
                default:
                    return try ffi.setValue(caseId: caseId, path: path, valueJson: "null", reason: reason)
                }
            }
            drafts[path] = nil
            inputErrors[path] = nil
            reasonPrompt = nil
            await reload()
        } catch WardcrfError.NeedsConfirmation {
            if live == nil { await validateNow() }
            let warnings = issues(path).filter { $0.1 == .warning }.map { $0.0.message }
            reasonPrompt = ReasonPrompt(kind: .confirmWarning, path: path, fieldLabel: f.label, warnings: warnings, reason: reason ?? "")
        } catch WardcrfError.ReasonRequired {
            reasonPrompt = ReasonPrompt(kind: .change, path: path, fieldLabel: f.label, warnings: [], reason: reason ?? "")
        } catch {
            if case WardcrfError.ValidationRejected = error { await validateNow() }
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
        let caseId = self.caseId
        switch prompt.kind {
        case .confirmWarning, .change:
            if let path = prompt.path { await save(path, reason: reason) }
        case .removeRow:
            guard let group = prompt.path?.group, let rowId = prompt.path?.rowId else { return }
            await act(nil) { try $0.removeRow(caseId: caseId, group: group, rowId: rowId, reason: reason) }
        case .reopen:
            await act(.statusChanged) { _ = try $0.setStatus(caseId: caseId, status: .draft, reason: reason) }
        }
    }

    public func addRow(_ group: String) async {
        let caseId = self.caseId
        await act(nil) { _ = try $0.addRow(caseId: caseId, group: group, valuesJson: "{}", reason: nil) }
    }

    /// Asks the reason a row is removed (it stays in the history).
    public func removeRow(_ group: String, rowId: String) {
        reasonPrompt = ReasonPrompt(kind: .removeRow, path: FieldPath(field: group, group: group, rowId: rowId), fieldLabel: nil, warnings: [])
    }

    public func markComplete() async {
        let caseId = self.caseId
        await act(.statusChanged) { _ = try $0.setStatus(caseId: caseId, status: .complete, reason: nil) }
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
        let caseId = self.caseId
        await act(.signed) { _ = try $0.sign(caseId: caseId, password: password, meaning: meaning) }
        if status == .signed { signMeanings = nil }
    }

    public func reopen() {
        reasonPrompt = ReasonPrompt(kind: .reopen, path: nil, fieldLabel: nil, warnings: [])
    }

    private func act(_ done: MessageKey?, _ body: @escaping @Sendable (CaseStore) throws -> Void) async {
        busy = true
        defer { busy = false }
        do {
            try await store.call(body)
            reasonPrompt = nil
            message = done.map { Messages.info($0, lang) }
            await reload()
        } catch {
            message = Messages.forError(error, lang)
        }
    }

    private func reload() async {
        let (caseId, lang) = (self.caseId, self.lang)
        if let v = try? await store.call({ try $0.viewCase(caseId: caseId, lang: lang) }) { accept(v) }
    }

    private func accept(_ v: CaseView) {
        view = v
        stored = (Values.parse(v.valuesJson) as? [String: Any]) ?? [:]
        live = nil
    }

    private func section(of id: String) -> String? {
        sections.first { s in
            s.items.contains { item in
                switch item {
                case let .field(field): return field.id == id
                case let .group(group): return group.id == id || group.fields.contains { $0.id == id }
                }
            }
        }?.id
    }
}

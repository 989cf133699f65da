import Foundation
import WardCRF

public enum CaseListFilter: CaseIterable, Sendable {
    case all, draft, complete, signed, conflicts
}

public struct CaseRow: Identifiable, Equatable {
    public var id: String { caseId }
    public let caseId: String
    /// The form's list label (its designated fields), else the start of the case id.
    public let label: String
    public let formTitle: String
    public let status: CaseStatus
    public let hasConflicts: Bool
    /// Changed here since the last sync (or never synced).
    public let pendingSync: Bool
    public let updated: String
}

/// The ward's case list with status and conflict badges, a filter and new cases.
@MainActor
public final class CaseListViewModel: ObservableObject {
    @Published public private(set) var rows: [CaseRow] = []
    @Published public private(set) var forms: [FormInfo] = []
    @Published public private(set) var loading = false
    /// Cases the repository does not hold as they are here yet (all of them, not only listed).
    @Published public private(set) var pendingSync = 0
    @Published public var filter: CaseListFilter = .all
    @Published public var message: UiMessage?

    private let store: WardStore
    private let lang: Language

    public init(store: WardStore, lang: Language) {
        self.store = store
        self.lang = lang
    }

    public var coreForms: [FormInfo] { forms.filter { $0.extends == nil } }
    public func modules(for formId: String) -> [FormInfo] { forms.filter { $0.extends == formId } }

    public func refresh() async {
        loading = true
        defer { loading = false }
        let (lang, filter) = (self.lang, self.filter)
        do {
            let (all, rows, pending) = try await store.call { ffi -> ([FormInfo], [CaseRow], Int) in
                let all = try WardCRF.forms(lang: lang)
                var query = CaseFilter()
                switch filter {
                case .all: break
                case .draft: query.status = .draft
                case .complete: query.status = .complete
                case .signed: query.status = .signed
                case .conflicts: query.withConflicts = true
                }
                let titles = Dictionary(all.map { ($0.formId, $0.title) }, uniquingKeysWith: { a, _ in a })
                let rows = try ffi.listCases(filter: query).map { c in
                    CaseRow(caseId: c.caseId, label: c.label.isEmpty ? String(c.caseId.prefix(8)) : c.label,
                            formTitle: titles[c.formId] ?? c.formId, status: c.status, hasConflicts: c.hasConflicts,
                            pendingSync: c.pendingSync, updated: Values.time(c.updatedAt, lang))
                }
                let pending = Int(try ffi.pendingSyncCount())
                return (all, rows, pending)
            }
            self.forms = all
            self.rows = rows
            self.pendingSync = pending
        } catch {
            message = Messages.forError(error, lang)
        }
    }

    /// The study pseudonym (`case_id` field), when entered and shown.
    nonisolated static func pseudonym(_ session: FormSession) -> String? {
        for section in session.sections {
            for item in section.items {
                if case let .field(field) = item, field.id == "case_id", case let .text(text)? = field.answer { return text }
            }
        }
        return nil
    }

    /// Creates a case and returns its id (to open form entry).
    public func create(formId: String, modules: [String]) async -> String? {
        do {
            let id = try await store.call { try $0.createCase(formId: formId, modules: modules) }
            await refresh()
            return id
        } catch {
            message = Messages.forError(error, lang)
            return nil
        }
    }
}

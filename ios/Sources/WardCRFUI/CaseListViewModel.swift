import Foundation
import WardCRF

public enum CaseListFilter: CaseIterable, Sendable {
    case all, draft, complete, signed, conflicts
}

public struct CaseRow: Identifiable, Equatable {
    public var id: String { caseId }
    public let caseId: String
    /// The study pseudonym (`case_id` field) when entered, else the start of the case id.
    public let label: String
    public let formTitle: String
    public let modules: [String]
    public let status: CaseStatus
    public let hasConflicts: Bool
    public let errors: Int
    public let missing: Int
    public let updated: String
}

/// The ward's case list with status and conflict badges, a filter and new cases.
@MainActor
public final class CaseListViewModel: ObservableObject {
    @Published public private(set) var rows: [CaseRow] = []
    @Published public private(set) var forms: [FormInfo] = []
    @Published public private(set) var loading = false
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
            let (all, rows) = try await store.call { ffi -> ([FormInfo], [CaseRow]) in
                let all = try WardCRF.forms(lang: lang)
                let titles = Dictionary(all.map { ($0.formId, $0.title) }, uniquingKeysWith: { a, _ in a })
                var query = CaseFilter()
                switch filter {
                case .all: break
                case .draft: query.status = .draft
                case .complete: query.status = .complete
                case .signed: query.status = .signed
                case .conflicts: query.withConflicts = true
                }
                let rows = try ffi.listCases(filter: query).map { c -> CaseRow in
                    let v = try ffi.viewCase(caseId: c.caseId, lang: lang)
                    let pseudonym = (Values.parse(v.valuesJson) as? [String: Any])?["case_id"] as? String
                    return CaseRow(
                        caseId: c.caseId, label: pseudonym ?? String(c.caseId.prefix(8)),
                        formTitle: titles[c.formId] ?? c.formId, modules: v.modules.map { titles[$0] ?? $0 },
                        status: c.status, hasConflicts: c.hasConflicts,
                        errors: v.report.errors.count, missing: v.report.missing.count,
                        updated: Values.time(c.updatedAt, lang))
                }
                return (all, rows)
            }
            self.forms = all
            self.rows = rows
        } catch {
            message = Messages.forError(error, lang)
        }
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

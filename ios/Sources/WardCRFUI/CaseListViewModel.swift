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
                var query = CaseFilter()
                switch filter {
                case .all: break
                case .draft: query.status = .draft
                case .complete: query.status = .complete
                case .signed: query.status = .signed
                case .conflicts: query.withConflicts = true
                }
                let rows = try ffi.listCases(filter: query).map { c -> CaseRow in
                    let session = try ffi.formSession(caseId: c.caseId, lang: lang)
                    let problems = session.completionProblems
                    return CaseRow(
                        caseId: c.caseId, label: Self.pseudonym(session) ?? String(c.caseId.prefix(8)),
                        formTitle: session.title, modules: [],
                        status: c.status, hasConflicts: c.hasConflicts,
                        errors: problems.filter { $0.code != .required }.count,
                        missing: problems.filter { $0.code == .required }.count,
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

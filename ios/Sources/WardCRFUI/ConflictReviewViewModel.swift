import Foundation
import WardCRF

public struct CandidateRow: Equatable, Identifiable {
    public var id: String { device + "/" + String(time) + "/" + valueJson }
    public let valueJson: String
    public let value: String
    public let user: String
    public let time: Int64
    public let timeText: String
    public let device: String
    /// The first 8 hex digits of the device id, as tablets are labelled.
    public let deviceShort: String
    public let thisDevice: Bool
    /// The reason given with the change that wrote this value, if any.
    public let reason: String?
}

public struct ConflictRow: Equatable, Identifiable {
    public var id: String { caseId + "/" + path.field + "/" + (path.rowId ?? "") }
    public let caseId: String
    public let caseLabel: String
    public let path: FieldPath
    public let fieldLabel: String
    public let sectionLabel: String?
    /// Side by side, oldest first.
    public let candidates: [CandidateRow]
    public var selected: Int?
    public var reason = ""
    public var resolving = false

    public var canResolve: Bool {
        selected != nil && !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty && !resolving
    }
}

/// Conflict review: every field edited on two devices, candidates side by side with who
/// entered them where and when, resolved with a chosen value and a reason.
@MainActor
public final class ConflictReviewViewModel: ObservableObject {
    @Published public var conflicts: [ConflictRow] = []
    @Published public private(set) var loading = false
    @Published public var message: UiMessage?

    private let store: WardStore
    private let caseId: String?
    private let lang: Language
    private let timeZone: TimeZone

    public init(store: WardStore, caseId: String?, lang: Language, timeZone: TimeZone = .current) {
        self.store = store
        self.caseId = caseId
        self.lang = lang
        self.timeZone = timeZone
    }

    public func load() async {
        loading = true
        defer { loading = false }
        do {
            conflicts = try await read()
        } catch {
            message = Messages.forError(error, lang)
        }
    }

    /// Resolves conflict `index` with its selected candidate and reason.
    public func resolve(_ index: Int) async {
        guard conflicts.indices.contains(index), conflicts[index].canResolve,
              let selected = conflicts[index].selected else { return }
        let c = conflicts[index]
        let chosen = c.candidates[selected]
        conflicts[index].resolving = true
        do {
            _ = try await store.call {
                try $0.resolve(caseId: c.caseId, path: c.path, valueJson: chosen.valueJson,
                               reason: c.reason.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            conflicts = try await read()
            message = Messages.info(.resolved, lang)
        } catch {
            if conflicts.indices.contains(index) { conflicts[index].resolving = false }
            message = Messages.forError(error, lang)
        }
    }

    /// The conflicts with their fields as the form session shows them (label, section, each
    /// candidate as a person reads it). A candidate's value goes back to `resolve` as the core
    /// gave it, unread.
    private func read() async throws -> [ConflictRow] {
        let (caseId, lang, zone) = (self.caseId, self.lang, self.timeZone)
        return try await store.call { ffi in
            let me = ffi.deviceId()
            var sessions: [String: FormSession] = [:]
            return try ffi.conflicts(caseId: caseId).map { conflict in
                let session = try sessions[conflict.caseId] ?? ffi.formSession(caseId: conflict.caseId, lang: lang)
                sessions[conflict.caseId] = session
                var spec: SessionField?
                var section: String?
                for s in session.sections {
                    for item in s.items {
                        let fields: [SessionField] = switch item {
                        case let .field(f): [f]
                        case let .group(g): g.rows.flatMap(\.fields)
                        }
                        if let f = fields.first(where: { $0.path == conflict.path }) { spec = f; section = s.label }
                    }
                }
                return ConflictRow(
                    caseId: conflict.caseId,
                    caseLabel: CaseListViewModel.pseudonym(session) ?? String(conflict.caseId.prefix(8)),
                    path: conflict.path,
                    fieldLabel: spec?.label ?? conflict.path.field,
                    sectionLabel: section,
                    candidates: conflict.candidates.sorted { $0.time < $1.time }.map { c in
                        let shown = spec?.candidates.first { $0.device == c.device && $0.time == c.time && $0.user == c.user }?.shown
                        return CandidateRow(valueJson: c.valueJson, value: shown ?? c.valueJson,
                                            user: c.user, time: c.time, timeText: Values.time(c.time, lang, timeZone: zone),
                                            device: c.device, deviceShort: String(c.device.prefix(8)), thisDevice: c.device == me,
                                            reason: c.reason)
                    })
            }
        }
    }
}

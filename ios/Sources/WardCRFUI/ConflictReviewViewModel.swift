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

    private func read() async throws -> [ConflictRow] {
        let (caseId, lang, zone) = (self.caseId, self.lang, self.timeZone)
        return try await store.call { ffi in
            let me = ffi.deviceId()
            var layouts: [String: FormLayout] = [:]
            return try ffi.conflicts(caseId: caseId).map { conflict in
                let v = try ffi.viewCase(caseId: conflict.caseId, lang: lang)
                let key = ([v.formId] + v.modules).joined(separator: "+")
                let layout = try layouts[key] ?? formLayout(formId: v.formId, modules: v.modules, lang: lang)
                layouts[key] = layout
                var spec: FieldLayout?
                var section: String?
                for s in layout.sections {
                    for item in s.items {
                        switch item {
                        case let .field(f) where f.id == conflict.path.field: spec = f; section = s.label
                        case let .group(g):
                            if let f = g.fields.first(where: { $0.id == conflict.path.field }) { spec = f; section = s.label }
                        default: break
                        }
                    }
                }
                let pseudonym = (Values.parse(v.valuesJson) as? [String: Any])?["case_id"] as? String
                return ConflictRow(
                    caseId: conflict.caseId,
                    caseLabel: pseudonym ?? String(conflict.caseId.prefix(8)),
                    path: conflict.path,
                    fieldLabel: spec?.label ?? conflict.path.field,
                    sectionLabel: section,
                    candidates: conflict.candidates.sorted { $0.time < $1.time }.map { c in
                        CandidateRow(valueJson: c.valueJson, value: Values.display(spec, json: c.valueJson, lang),
                                     user: c.user, time: c.time, timeText: Values.time(c.time, lang, timeZone: zone),
                                     device: c.device, deviceShort: String(c.device.prefix(8)), thisDevice: c.device == me)
                    })
            }
        }
    }
}

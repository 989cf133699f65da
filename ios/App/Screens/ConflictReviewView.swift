import SwiftUI
import WardCRF
import WardCRFUI

/// Conflict review: each field edited on two devices, candidates side by side (value, who,
/// when, which device); the nurse picks the correct one and gives the reason.
struct ConflictReviewView: View {
    @StateObject private var model: ConflictReviewViewModel

    init(store: WardStore, caseId: String?, lang: Language) {
        _model = StateObject(wrappedValue: ConflictReviewViewModel(store: store, caseId: caseId, lang: lang))
    }

    var body: some View {
        List {
            if let message = model.message { MessageBanner(message: message) }
            if !model.loading && model.conflicts.isEmpty { Text("conflicts_none").foregroundStyle(.secondary) }
            ForEach(Array(model.conflicts.enumerated()), id: \.element.id) { index, conflict in
                VStack(alignment: .leading, spacing: 12) {
                    Text(conflict.fieldLabel).font(.headline).accessibilityAddTraits(.isHeader)
                    Text([String(format: NSLocalizedString("conflict_case %@", comment: ""), conflict.caseLabel), conflict.sectionLabel]
                        .compactMap { $0 }.joined(separator: " · ")).font(.caption)
                    Text("conflict_choose").font(.subheadline)
                    HStack(alignment: .top, spacing: 12) {
                        ForEach(Array(conflict.candidates.enumerated()), id: \.element.id) { i, candidate in
                            CandidateCard(candidate: candidate, selected: conflict.selected == i) {
                                model.conflicts[index].selected = i
                            }
                        }
                    }
                    TextField("resolution_reason", text: $model.conflicts[index].reason, axis: .vertical)
                        .lineLimit(2...4)
                        .textFieldStyle(.roundedBorder)
                    Button("resolve") { Task { await model.resolve(index) } }
                        .buttonStyle(.borderedProminent)
                        .disabled(!conflict.canResolve)
                        .frame(maxWidth: .infinity, alignment: .trailing)
                }
                .padding(.vertical, 8)
            }
        }
        .navigationTitle("conflicts_title")
        .task { await model.load() }
    }
}

struct CandidateCard: View {
    let candidate: CandidateRow
    let selected: Bool
    let onSelect: () -> Void

    var body: some View {
        Button(action: onSelect) {
            VStack(alignment: .leading, spacing: 4) {
                HStack {
                    Image(systemName: selected ? "largecircle.fill.circle" : "circle").accessibilityHidden(true)
                    Text(candidate.value).font(.title3.bold())
                }
                Text("candidate_by \(candidate.user)").font(.subheadline)
                Text("candidate_when \(candidate.timeText)").font(.subheadline)
                if let reason = candidate.reason {
                    Text(String(format: NSLocalizedString("candidate_reason %@", comment: ""), reason)).font(.caption).italic()
                }
                if candidate.thisDevice { Text("candidate_this_device").font(.caption) }
                else { Text("candidate_device \(candidate.deviceShort)").font(.caption) }
            }
            .frame(maxWidth: .infinity, alignment: .leading)
            .padding(12)
            .overlay(RoundedRectangle(cornerRadius: 10).stroke(selected ? Color.accentColor : Color.secondary.opacity(0.4), lineWidth: selected ? 3 : 1))
        }
        .buttonStyle(.plain)
        .accessibilityAddTraits(selected ? [.isSelected, .isButton] : .isButton)
    }
}

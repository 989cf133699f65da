// Form entry from the core's session through FormEntryViewModel, mirroring the Kotlin
// SessionTest: a field hidden by an answer leaves the screen and its value is offered for
// clearing with a reason; completion shows what is left, opens the next missing field's
// section, then asks whether to keep or clear values in hidden fields.
import XCTest
@testable import WardCRF
@testable import WardCRFUI

@MainActor
final class FormSessionTests: XCTestCase {
    private func choice(_ code: String) -> AnswerValue { .choice(code: code) }

    func testAFieldHiddenByAnAnswerLeavesTheScreenAndItsValueIsOfferedForClearing() async throws {
        let t = try TempStore("hidden", user: "ns-tanaka")
        let id = try t.ffi.createCase(formId: "icrown-core", modules: [])
        let m = FormEntryViewModel(store: t.store, caseId: id, lang: .en)
        await m.load()
        XCTAssertNil(m.field(field("vs_o2_flow")), "shown only on oxygen")

        await m.choose(field("vs_spo2_on_o2"), choice("1"))
        await m.edit(field("vs_o2_flow"), text: "4")
        await m.commit(field("vs_o2_flow"))
        XCTAssertEqual(m.field(field("vs_o2_flow"))?.state, .valid)

        // Changing an earlier answer asks why; dismissed, nothing changes.
        await m.choose(field("vs_spo2_on_o2"), choice("0"))
        XCTAssertEqual(m.reasonPrompt?.kind, .change)
        m.cancelReason()
        XCTAssertFalse(m.isDirty(field("vs_spo2_on_o2")))
        XCTAssertEqual(m.field(field("vs_spo2_on_o2"))?.answer, choice("1"))
        // Given, the flow field is hidden and its value listed.
        await m.choose(field("vs_spo2_on_o2"), choice("0"))
        XCTAssertEqual(m.reasonPrompt?.kind, .change)
        m.reasonPrompt?.reason = "room air"
        await m.submitReason()
        XCTAssertNil(m.field(field("vs_o2_flow")))
        XCTAssertEqual(m.hiddenValues.map(\.path), [field("vs_o2_flow")])
        XCTAssertTrue(m.hiddenValues[0].shown.hasPrefix("4"))

        m.askToClearHidden()
        XCTAssertEqual(m.reasonPrompt?.kind, .clearHidden)
        await m.submitReason()
        XCTAssertEqual(m.reasonPrompt?.blankRejected, true, "a reason is needed")
        m.reasonPrompt?.reason = "not on oxygen"
        await m.submitReason()
        XCTAssertTrue(m.hiddenValues.isEmpty)
        XCTAssertEqual(m.message?.key, .hiddenCleared)
        XCTAssertEqual(try t.ffi.history(caseId: id, field: "vs_o2_flow").last?.reason, "not on oxygen")
    }

    func testASectionShownOrHiddenByAnAnswerLeavesTheClinicianWhereTheyWere() async throws {
        let t = try TempStore("sections", user: "dr-abe")
        let id = try t.ffi.createCase(formId: "icrown-core", modules: ["mpox"])
        let m = FormEntryViewModel(store: t.store, caseId: id, lang: .en)
        await m.load()
        XCTAssertFalse(m.sections.map(\.id).contains("mpox_hiv"), "the HIV section of the mpox module shows only with HIV")
        await m.choose(field("comorb_hiv"), choice("1"))
        let shown = m.sections.map(\.id)
        let at = try XCTUnwrap(shown.firstIndex(of: "mpox_hiv"))
        XCTAssertLessThan(at, shown.count - 1, "\(shown)")
        let after = shown[at + 1]
        m.select(section: at + 1)

        await m.choose(field("comorb_hiv"), choice("0"))
        m.reasonPrompt?.reason = "HIV test was negative"
        await m.submitReason()
        XCTAssertFalse(m.sections.map(\.id).contains("mpox_hiv"))
        XCTAssertEqual(m.sections[m.current].id, after, "still on the same section")
    }

    func testCompletionShowsWhatIsLeftThenAsksAboutHiddenValues() async throws {
        let t = try TempStore("complete", user: "dr-suzuki")
        let id = try t.ffi.createCase(formId: "icrown-core", modules: [])
        let m = FormEntryViewModel(store: t.store, caseId: id, lang: .de)
        await m.load()
        m.select(section: m.sections.count - 1)
        await m.markComplete()
        XCTAssertEqual(m.message?.key, .notComplete)
        XCTAssertEqual(m.status, .draft)
        XCTAssertEqual(m.nextMissing, field("case_id"))
        XCTAssertEqual(m.sections[m.current].items.contains {
            if case let .field(f) = $0 { return f.id == "case_id" } else { return false }
        }, true, "the next missing field's section is open")
        XCTAssertTrue(m.completionProblems.contains { $0.field == "age_years" && $0.code == .required })

        var answers: [String: AnswerValue] = [
            "case_id": .text(text: "JP-0001"), "age_years": .number(value: 54), "sex_at_birth": choice("2"),
            "admission_date": .date(date: "2024-03-01"), "target_infection": choice("1"),
            "case_classification": choice("1"), "consent_status": choice("1"), "travel_14d": choice("0"),
            "prior_covid19": choice("0"), "covid19_vaccinated": choice("1"),
            "vs_datetime": .dateTime(datetime: "2024-03-01T10:00"), "vs_hr": .number(value: 96),
            "vs_rr": .number(value: 22), "vs_sbp": .number(value: 124), "vs_dbp": .number(value: 78),
            "vs_spo2_on_o2": choice("0"), "vs_weight": .number(value: 70), "outcome": choice("1"),
            "outcome_date": .date(date: "2024-03-09"), "final_diagnosis": choice("covid_19"),
        ]
        for no in ["comorb_chronic_cardiac", "comorb_hypertension", "comorb_chronic_pulmonary", "comorb_asthma",
                   "comorb_ckd", "comorb_liver", "comorb_hiv", "comorb_immunosuppression", "comorb_transplant",
                   "comorb_chronic_neuro", "comorb_obesity", "comorb_diabetes", "comorb_malignancy",
                   "proc_oxygen", "proc_hfnc", "proc_niv", "proc_imv", "proc_ecmo", "proc_rrt", "proc_icu"] {
            answers[no] = choice("0")
        }
        for (fieldId, answer) in answers {
            _ = try t.ffi.setAnswer(caseId: id, path: field(fieldId), answer: answer, lang: .de)
        }
        _ = try t.ffi.setAnswer(caseId: id, path: field("pregnancy_status"), answer: choice("1"), lang: .de)
        _ = try t.ffi.setAnswer(caseId: id, path: field("sex_at_birth"), answer: choice("1"), lang: .de, reason: "Zeile verwechselt")
        await m.load()
        XCTAssertTrue(m.completionProblems.isEmpty)
        XCTAssertNil(m.nextMissing)

        await m.markComplete()
        XCTAssertEqual(m.completionChoice?.values.map(\.path), [field("pregnancy_status")])
        XCTAssertEqual(m.status, .draft)
        m.completeClearingHidden()
        XCTAssertNil(m.completionChoice)
        XCTAssertEqual(m.reasonPrompt?.kind, .completeClearingHidden)
        m.reasonPrompt?.reason = "trifft nicht zu"
        await m.submitReason()
        XCTAssertEqual(m.status, .complete)
        XCTAssertTrue(m.hiddenValues.isEmpty)
        XCTAssertNil(m.reasonPrompt)
    }

    func testDraftsReadAsTypedAnswersAndLimitsHintBeforeSaving() throws {
        // No store: the reading of a draft by the field's kind.
        let spo2 = SessionField(
            path: field("vs_spo2"), id: "vs_spo2", kind: .integer, label: "SpO2", help: nil, required: true,
            identifying: false, partialDate: false, decimals: nil, maxLength: nil,
            hardLimits: ValueRange(min: 0, max: 100), softLimits: ValueRange(min: 90, max: 100), choices: [],
            unit: MeasureUnit(code: "%", display: "%"), units: [MeasureUnit(code: "%", display: "%")], defaultUnit: "%",
            answer: nil, shown: nil, entered: nil, confirmation: nil, state: .empty, messages: [], candidates: [])
        XCTAssertEqual(AnswerInput.read(spo2, Draft(text: "97", unit: "%")), .answer(.number(value: 97), unit: nil))
        XCTAssertEqual(AnswerInput.read(spo2, Draft(text: "97.5", unit: "%")), .invalid(.notAWholeNumber))
        XCTAssertEqual(AnswerInput.read(spo2, Draft(text: "viel", unit: "%")), .invalid(.notANumber))
        XCTAssertEqual(AnswerInput.read(spo2, Draft(text: " ", unit: "%")), .empty)
        XCTAssertEqual(AnswerInput.limitHint(spo2, Draft(text: "75", unit: "%")), .warning)
        XCTAssertEqual(AnswerInput.limitHint(spo2, Draft(text: "150", unit: "%")), .error)
        XCTAssertNil(AnswerInput.limitHint(spo2, Draft(text: "97", unit: "%")))
        XCTAssertEqual(AnswerInput.expectedRange(spo2, .en), "Expected: 90–100 %")
        XCTAssertEqual(AnswerInput.draft(spo2), Draft(text: "", unit: "%"))
    }
}

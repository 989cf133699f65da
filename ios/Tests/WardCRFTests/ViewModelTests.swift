import XCTest
@testable import WardCRF
@testable import WardCRFUI

/// The view models against the real library, mirroring android/core-ui's tests.
@MainActor
final class ViewModelTests: XCTestCase {
    func testFormEntryConvertsAUnitAndAsksAReasonForASoftWarning() async throws {
        let t = try TempStore("form", user: "dr-tanaka")
        let id = try t.ffi.createCase(formId: "icrown-core", modules: [])
        let m = FormEntryViewModel(store: t.store, caseId: id, lang: .en)
        await m.load()
        m.select(section: try XCTUnwrap(m.sections.firstIndex { $0.id == "vitals" }))

        let temp = field("vs_temp")
        await m.selectUnit(temp, unit: "[degF]")
        await m.edit(temp, text: "101.3")
        XCTAssertTrue(m.isDirty(temp))
        await m.commit(temp)
        XCTAssertFalse(m.isDirty(temp))
        XCTAssertEqual(m.draft(temp), Draft(text: "101.3", unit: "[degF]"))
        XCTAssertEqual(m.storedDisplay(temp), "38.5 °C (entered 101.3 °F)")

        let spo2 = field("vs_spo2")
        await m.edit(spo2, text: "75")
        XCTAssertEqual(m.severity(spo2), .warning)
        await m.commit(spo2)
        let prompt = try XCTUnwrap(m.reasonPrompt)
        XCTAssertEqual(prompt.kind, .confirmWarning)
        XCTAssertFalse(prompt.warnings.isEmpty)
        await m.submitReason()
        XCTAssertEqual(m.reasonPrompt?.blankRejected, true)
        m.reasonPrompt?.reason = "chronic lung disease, baseline 78 %"
        await m.submitReason()
        XCTAssertNil(m.reasonPrompt)
        XCTAssertFalse(m.isDirty(spo2))
        XCTAssertEqual(m.severity(spo2), .none)

        await m.edit(field("vs_hr"), text: "eighty")
        XCTAssertEqual(m.inputErrors[field("vs_hr")]?.key, .notANumber)

        await m.markComplete()
        XCTAssertEqual(m.message?.key, .notComplete)
        XCTAssertEqual(m.status, .draft)
    }

    /// Drafts typed before iOS ended the app come back as drafts (not saved), checked as typed.
    func testRestoredDraftsAreDraftsAgain() async throws {
        let t = try TempStore("restore", user: "dr-mori")
        let id = try t.ffi.createCase(formId: "icrown-core", modules: [])
        let m = FormEntryViewModel(store: t.store, caseId: id, lang: .en)
        await m.load()
        await m.restore([field("vs_hr"): Draft(text: "eighty", unit: nil), field("no_such_field"): Draft(text: "1", unit: nil)])
        XCTAssertTrue(m.isDirty(field("vs_hr")))
        XCTAssertFalse(m.isDirty(field("no_such_field")))
        XCTAssertEqual(m.inputErrors[field("vs_hr")]?.key, .notANumber)
        XCTAssertNil(m.storedDisplay(field("vs_hr")), "restored, not saved")
    }

    func testConflictReviewShowsCandidatesSideBySideAndResolvesWithAReason() async throws {
        let a = try TempStore("ward-a", user: "dr-a")
        let b = try TempStore("ward-b", user: "dr-b")
        let id = try a.ffi.createCase(formId: "icrown-core", modules: [])
        _ = try b.ffi.mergeFrom(other: a.ffi)
        _ = try a.ffi.setValue(caseId: id, path: field("vs_hr"), valueJson: "88", reason: nil)
        _ = try b.ffi.setValue(caseId: id, path: field("vs_hr"), valueJson: "92", reason: "re-read on the monitor")
        _ = try a.ffi.mergeFrom(other: b.ffi)

        let list = CaseListViewModel(store: a.store, lang: .en)
        list.filter = .conflicts
        await list.refresh()
        XCTAssertEqual(list.rows.map(\.caseId), [id])
        XCTAssertTrue(list.rows[0].hasConflicts)

        let review = ConflictReviewViewModel(store: a.store, caseId: nil, lang: .en, timeZone: TimeZone(identifier: "UTC")!)
        await review.load()
        let conflict = try XCTUnwrap(review.conflicts.first)
        XCTAssertEqual(conflict.fieldLabel, "Heart rate")
        XCTAssertEqual(conflict.candidates.count, 2)
        let theirs = try XCTUnwrap(conflict.candidates.first { !$0.thisDevice })
        XCTAssertEqual(theirs.user, "dr-b")
        XCTAssertEqual(theirs.deviceShort, String(b.ffi.deviceId().prefix(8)))
        XCTAssertTrue(theirs.value.contains("92"))
        XCTAssertEqual(theirs.reason, "re-read on the monitor")
        XCTAssertNil(conflict.candidates.first { $0.thisDevice }?.reason)
        XCTAssertFalse(conflict.canResolve)

        try a.signIn("nurse-k")
        review.conflicts[0].selected = conflict.candidates.firstIndex(of: theirs)
        review.conflicts[0].reason = "checked the monitor log"
        XCTAssertTrue(review.conflicts[0].canResolve)
        await review.resolve(0)
        XCTAssertTrue(review.conflicts.isEmpty)
        XCTAssertEqual(review.message?.key, .resolved)
        XCTAssertEqual(try a.ffi.history(caseId: id, field: "vs_hr").last?.user, "nurse-k")
    }

    func testSyncFailuresBecomeMessagesThatSayWhatToDo() async throws {
        let t = try TempStore("sync")
        let sync = SyncViewModel(store: t.store, lang: .ja)
        await sync.refresh()
        XCTAssertTrue(sync.needsEnrolment)
        await sync.start()
        XCTAssertEqual(sync.phase, .failed)
        XCTAssertEqual(sync.message?.key, .notEnrolled)
        XCTAssertTrue(sync.message?.text.contains("登録されていません") ?? false)

        let enrol = EnrolmentViewModel(store: t.store, lang: .en)
        XCTAssertFalse(enrol.canSubmit)
        enrol.serverURL = "http://127.0.0.1:9"  // the discard port: nothing listens
        enrol.code = "some-code"
        await enrol.submit()
        XCTAssertEqual(enrol.message?.key, .network)
        XCTAssertNil(enrol.enrolled)
    }

    /// Against the test repository (see `TestRepository`): enrolment through the view model,
    /// a staff member signs in, then a sync with progress.
    func testEnrolmentThenSyncWithProgress() async throws {
        let repository = try TestRepository.get()
        let t = try TempStore("sync-real")
        let enrol = EnrolmentViewModel(store: t.store, lang: .de)
        enrol.serverURL = repository.url
        enrol.code = try repository.enrolmentCode()
        await enrol.submit(qrPayload: "https://example.org/not-an-enrolment-code")
        XCTAssertEqual(enrol.message?.key, .badEnrolmentCode)
        XCTAssertNil(enrol.enrolled)
        await enrol.submit()
        XCTAssertNotNil(enrol.enrolled)
        try t.signIn("dr-weber")
        for _ in 0..<3 { _ = try t.ffi.createCase(formId: "icrown-core", modules: []) }
        let sync = SyncViewModel(store: t.store, lang: .de)
        await sync.start()
        XCTAssertEqual(sync.phase, .done)
        XCTAssertEqual(sync.summary?.pushed, 3)
        XCTAssertEqual(sync.message?.text, "Synchronisiert: 3 gesendet, 0 empfangen, 0 offene Konflikte.")
    }

    /// Set PIN: two different PINs, a short one and the wrong password are refused with a
    /// message and nothing set; then the PIN unlocks; removed, it no longer does. Mirrors
    /// android/core-ui's PinTest.
    func testSettingAPinChecksBothEntriesAndThePasswordThenThePinUnlocks() async throws {
        let t = try TempStore("pin", user: "dr-pin")
        let m = PinViewModel(store: t.store, lang: .en)
        let password = TestRepository.password("dr-pin")

        await m.setPin(password: password, pin: "2468", confirmation: "2469")
        XCTAssertEqual(m.message?.key, .pinMismatch)
        XCTAssertFalse(m.done)
        await m.setPin(password: password, pin: "246", confirmation: "246")
        XCTAssertEqual(m.message?.key, .badPin)
        await m.setPin(password: "not my password", pin: "2468", confirmation: "2468")
        XCTAssertEqual(m.message?.key, .wrongCredential)
        XCTAssertFalse(m.done)
        t.store.lock()
        XCTAssertThrowsError(try t.ffi.unlockWithPin(user: "dr-pin", pin: "2468")) { error in
            guard case .NoPin? = error as? WardcrfError else { return XCTFail("\(error)") }
        }
        try t.signIn("dr-pin")

        m.open()
        await m.setPin(password: password, pin: "2468", confirmation: "2468")
        XCTAssertEqual(m.message?.key, .pinSet)
        XCTAssertTrue(m.done)
        t.store.lock()
        XCTAssertEqual(try t.ffi.unlockWithPin(user: "dr-pin", pin: "2468").id, "dr-pin")

        await m.removePin()
        XCTAssertEqual(m.message?.key, .pinRemoved)
        t.store.lock()
        XCTAssertThrowsError(try t.ffi.unlockWithPin(user: "dr-pin", pin: "2468"))

        let local = try await t.store.localStaff()
        XCTAssertTrue(PinViewModel.offersPin(user: "dr-pin", localStaff: local))
        XCTAssertFalse(PinViewModel.offersPin(user: "dr-elsewhere", localStaff: local))
        XCTAssertTrue(PinViewModel.offersPin(user: "dr-elsewhere", localStaff: nil))
    }
}

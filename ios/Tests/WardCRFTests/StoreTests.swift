import XCTest
@testable import WardCRF

/// The generated Swift and the wrapper against the real library: the Kotlin suite's scenarios.
final class StoreTests: XCTestCase {
    func testVitalsInFahrenheitAreStoredInCelsiusKeepingTheEnteredValue() throws {
        let t = try TempStore("vitals", user: "dr-tanaka")
        let id = try t.ffi.createCase(formId: "icrown-core", modules: [])
        let stored = try t.ffi.setQuantity(caseId: id, path: field("vs_temp"), value: 101.3, unit: "[degF]", reason: nil)
        XCTAssertTrue(stored.contains("\"value\":38.5"))
        XCTAssertTrue(stored.contains("101.3"))
        let view = try t.ffi.viewCase(caseId: id, lang: .en)
        XCTAssertEqual(view.status, .draft)
        let history = try t.ffi.history(caseId: id, field: "vs_temp")
        XCTAssertEqual(history.map(\.op), ["set"])
        XCTAssertEqual(history.first?.user, "dr-tanaka")
        XCTAssertEqual(history.first?.device, t.ffi.deviceId())
    }

    func testValidationMessagesComeInJapanese() throws {
        let t = try TempStore("ja", user: "dr-sato")
        let id = try t.ffi.createCase(formId: "icrown-core", modules: [])
        _ = try t.ffi.setValue(caseId: id, path: field("vs_spo2"), valueJson: "75", reason: "慢性肺疾患、平常時 78 %")
        let report = try t.ffi.viewCase(caseId: id, lang: .ja).report
        let spo2 = try XCTUnwrap(report.warnings.first { $0.field == "vs_spo2" })
        XCTAssertEqual(spo2.code, .softLimit)
        XCTAssertTrue(spo2.message.contains("想定範囲"))
        XCTAssertFalse(report.complete)
    }

    func testTheWrongKeyIsATypedErrorAndChangesNothing() throws {
        let t = try TempStore("wrong-key", user: "n")
        _ = try t.ffi.createCase(formId: "icrown-core", modules: [])
        XCTAssertThrowsError(try CaseStore.open(dir: t.dir.path, key: SoftwareKeyProvider())) { error in
            XCTAssertEqual(error as? WardcrfError, .WrongKey)
        }
    }

    func testRefusedAndUnusualValuesAreTypedErrorsWithoutTheValue() throws {
        let t = try TempStore("refused", user: "n")
        let id = try t.ffi.createCase(formId: "icrown-core", modules: [])
        XCTAssertThrowsError(try t.ffi.setValue(caseId: id, path: field("vs_spo2"), valueJson: "150", reason: nil)) { error in
            guard case let WardcrfError.ValidationRejected(fieldId, codes) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(fieldId, "vs_spo2")
            XCTAssertEqual(codes, [.hardLimit])
            XCTAssertFalse(String(describing: error).contains("150"))
        }
        XCTAssertThrowsError(try t.ffi.setValue(caseId: id, path: field("vs_spo2"), valueJson: "75", reason: nil)) { error in
            guard case WardcrfError.NeedsConfirmation = error else { return XCTFail("\(error)") }
        }
    }

    func testTwoStoresMergeIntoAConflictThatANurseResolves() throws {
        let a = try TempStore("ward-a", user: "dr-a")
        let b = try TempStore("ward-b", user: "dr-b")
        let id = try a.ffi.createCase(formId: "icrown-core", modules: [])
        XCTAssertEqual(try b.ffi.mergeFrom(other: a.ffi).newCases, 1)
        _ = try a.ffi.setValue(caseId: id, path: field("vs_hr"), valueJson: "88", reason: nil)
        _ = try b.ffi.setValue(caseId: id, path: field("vs_hr"), valueJson: "92", reason: nil)
        XCTAssertEqual(try a.ffi.mergeFrom(other: b.ffi).conflicts, 1)
        let conflict = try XCTUnwrap(a.ffi.conflicts(caseId: nil).first)
        XCTAssertEqual(Set(conflict.candidates.map(\.user)), ["dr-a", "dr-b"])
        let fromB = try XCTUnwrap(conflict.candidates.first { $0.user == "dr-b" })
        try a.signIn("nurse-k")
        _ = try a.ffi.resolve(caseId: id, path: conflict.path, valueJson: fromB.valueJson, reason: "checked the monitor log")
        XCTAssertTrue(try a.ffi.conflicts(caseId: id).isEmpty)
        _ = try b.ffi.mergeFrom(other: a.ffi)
        XCTAssertTrue(try b.ffi.conflicts(caseId: nil).isEmpty)
    }

    func testSyncWithoutEnrolmentSaysSoAndTheStreamThrows() async throws {
        let t = try TempStore("not-enrolled")
        do {
            for try await _ in t.store.syncEvents() {}
            XCTFail("a sync without enrolment must fail")
        } catch let error as WardcrfError {
            XCTAssertEqual(error, .NotEnrolled)
            XCTAssertTrue(error.needsEnrolment)
        }
    }

    /// The Keychain provider round trip; skipped where the test host has no Keychain access
    /// (a package test bundle without an app host on some simulators).
    func testTheKeychainProviderWrapsAndUnwraps() throws {
        let provider = KeychainKeyProvider(account: "wardcrf-test-\(UUID().uuidString)")
        defer { provider.deleteKey() }
        let dataKey = Data((0..<32).map { _ in UInt8.random(in: 0...255) })
        let wrapped: Data
        do {
            wrapped = try provider.wrap(dataKey: dataKey)
        } catch KeyProviderError.Unavailable {
            throw XCTSkip("no Keychain access in this test host")
        }
        XCTAssertEqual(try provider.unwrap(wrapped: wrapped), dataKey)
        var tampered = wrapped
        tampered[tampered.count - 1] ^= 0xff
        XCTAssertThrowsError(try provider.unwrap(wrapped: tampered)) { XCTAssertEqual($0 as? KeyProviderError, .WrongKey) }
    }
}

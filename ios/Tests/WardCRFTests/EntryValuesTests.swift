// The bedside inputs' own logic, without a store: partial dates as the core's ISO text, ISO
// date-times, the unit order with the site's default first, the keyboard a number needs, and
// sealed drafts that come back only with their key.
import XCTest
@testable import WardCRF
@testable import WardCRFUI

final class EntryValuesTests: XCTestCase {
    func testPartialDatesReadAndWriteTheCoresText() throws {
        XCTAssertEqual(PartialDate(iso: "1958")?.precision, .year)
        XCTAssertEqual(PartialDate(iso: "1958-07")?.iso, "1958-07")
        XCTAssertEqual(PartialDate(iso: "1958-07-03")?.day, 3)
        for bad in ["", "58", "1958-7", "1958-13", "1958-07-3", "1958-07-03-01", "abcd"] {
            XCTAssertNil(PartialDate(iso: bad), bad)
        }
        let full = try XCTUnwrap(PartialDate(iso: "2026-12-03"))
        XCTAssertEqual(full.with(precision: .month).iso, "2026-12")
        XCTAssertEqual(full.with(precision: .year).iso, "2026")
        // The day is kept in mind while only the month shows.
        XCTAssertEqual(full.with(precision: .month).with(precision: .day).iso, "2026-12-03")

        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        let date = try XCTUnwrap(full.date(calendar: utc))
        XCTAssertEqual(PartialDate(date, precision: .day, calendar: utc), full)
    }

    func testDateTimesAreISOWithTheOffset() throws {
        let tokyo = TimeZone(identifier: "Asia/Tokyo")!
        let date = try XCTUnwrap(DateTimeText.date("2026-12-03T05:05:00Z"))
        XCTAssertEqual(DateTimeText.iso(date, timeZone: tokyo), "2026-12-03T14:05:00+09:00")
        XCTAssertEqual(DateTimeText.date("2026-12-03T14:05:00+09:00"), date)
        XCTAssertNil(DateTimeText.date("2026-12-03"))
    }

    func testTheSiteDefaultUnitComesFirst() {
        let celsius = MeasureUnit(code: "Cel", display: "°C")
        let fahrenheit = MeasureUnit(code: "[degF]", display: "°F")
        XCTAssertEqual(UnitOrder.ordered([celsius, fahrenheit], defaultUnit: "[degF]"), [fahrenheit, celsius])
        XCTAssertEqual(UnitOrder.ordered([celsius, fahrenheit], defaultUnit: nil), [celsius, fahrenheit])
        XCTAssertEqual(UnitOrder.ordered([celsius, fahrenheit], defaultUnit: "K"), [celsius, fahrenheit])
    }

    func testNumbersThatMayBeNegativeGetAMinusSign() {
        XCTAssertEqual(NumberKeyboard.forField(integer: true, minimum: 0), .digits)
        XCTAssertEqual(NumberKeyboard.forField(integer: false, minimum: nil), .decimal)
        XCTAssertEqual(NumberKeyboard.forField(integer: false, minimum: -30), .signed)
    }

    func testDraftsAreSealedPerCaseAndComeBackOnlyWithTheirKey() {
        let key = SoftwareKeyProvider()
        let temp = FieldPath(field: "vs_temp", group: nil, rowId: nil)
        let dose = FieldPath(field: "dose", group: "meds", rowId: "r1")
        var archive = DraftArchive.store([temp: Draft(text: "101.3", unit: "[degF]")], caseId: "a", in: Data(), key: key)
        archive = DraftArchive.store([dose: Draft(text: "5", unit: nil)], caseId: "b", in: archive, key: key)
        XCTAssertFalse(String(decoding: archive, as: UTF8.self).contains("101.3"), "sealed, not plain")
        XCTAssertEqual(DraftArchive.drafts(caseId: "a", in: archive, key: key), [temp: Draft(text: "101.3", unit: "[degF]")])
        XCTAssertEqual(DraftArchive.drafts(caseId: "b", in: archive, key: key), [dose: Draft(text: "5", unit: nil)])
        XCTAssertTrue(DraftArchive.drafts(caseId: "a", in: archive, key: SoftwareKeyProvider()).isEmpty)
        // Saved (no drafts left): the case's entry goes; the last one gone leaves nothing.
        archive = DraftArchive.store([:], caseId: "a", in: archive, key: key)
        XCTAssertTrue(DraftArchive.drafts(caseId: "a", in: archive, key: key).isEmpty)
        XCTAssertEqual(DraftArchive.store([:], caseId: "b", in: archive, key: key), Data())
    }
}

// What the bedside inputs need besides the core: a (partial) date as the ISO text the core takes
// (YYYY, YYYY-MM, YYYY-MM-DD) and back for the date pickers, a date-time as ISO 8601, the order
// of a field's units (the site's default first), the keyboard a number needs, and typed-but-
// unsaved drafts archived for the scene (so they survive the OS ending the app).
import Foundation
import WardCRF

/// How much of a date is known: a partial date is a year, or a year and month.
public enum DatePrecision: String, CaseIterable, Codable, Sendable {
    case year, month, day
}

/// A date as entered: a year, a year-month, or a full date (the core's ISO text).
public struct PartialDate: Equatable, Sendable {
    public var precision: DatePrecision
    public var year: Int
    public var month: Int
    public var day: Int

    public init(precision: DatePrecision, year: Int, month: Int = 1, day: Int = 1) {
        self.precision = precision
        self.year = year
        self.month = month
        self.day = day
    }

    /// Reads `YYYY`, `YYYY-MM` or `YYYY-MM-DD`; nil for anything else.
    public init?(iso: String) {
        let parts = iso.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        guard (1...3).contains(parts.count), parts[0].count == 4, let year = Int(parts[0]) else { return nil }
        let numbers = parts.dropFirst().map { $0.count == 2 ? Int($0) : nil }
        guard !numbers.contains(where: { $0 == nil }) else { return nil }
        let month = numbers.first.flatMap { $0 } ?? 1
        let day = numbers.dropFirst().first.flatMap { $0 } ?? 1
        guard (1...12).contains(month), (1...31).contains(day) else { return nil }
        self.init(precision: [.year, .month, .day][parts.count - 1], year: year, month: month, day: day)
    }

    /// The day of `date` in `calendar`, at `precision`.
    public init(_ date: Date, precision: DatePrecision, calendar: Calendar = .current) {
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        self.init(precision: precision, year: c.year ?? 1970, month: c.month ?? 1, day: c.day ?? 1)
    }

    /// The core's text for it.
    public var iso: String {
        switch precision {
        case .year: return String(format: "%04d", year)
        case .month: return String(format: "%04d-%02d", year, month)
        case .day: return String(format: "%04d-%02d-%02d", year, month, day)
        }
    }

    /// Its first day, for a date picker.
    public func date(calendar: Calendar = .current) -> Date? {
        calendar.date(from: DateComponents(year: year, month: precision == .year ? 1 : month, day: precision == .day ? day : 1))
    }

    /// The same date known more or less precisely (a day is kept in mind, not shown).
    public func with(precision: DatePrecision) -> PartialDate {
        PartialDate(precision: precision, year: year, month: month, day: day)
    }
}

/// Date-times as the core takes them: ISO 8601 with the device's offset (`2026-12-03T14:05:00+09:00`).
public enum DateTimeText {
    public static func iso(_ date: Date, timeZone: TimeZone = .current) -> String {
        let f = ISO8601DateFormatter()
        f.timeZone = timeZone
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }

    public static func date(_ iso: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        if let d = f.date(from: iso) { return d }
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: iso)
    }
}

public enum UnitOrder {
    /// The units a value may be entered in, the one a new entry starts in first (the site's
    /// default when it has one, else the field's), the others in the form's order.
    public static func ordered(_ units: [MeasureUnit], defaultUnit: String?) -> [MeasureUnit] {
        guard let code = defaultUnit, let first = units.first(where: { $0.code == code }) else { return units }
        return [first] + units.filter { $0.code != code }
    }
}

/// The keyboard for a number: digits only, with a decimal separator, or with a minus sign too
/// when negative values are possible (the decimal pad has none).
public enum NumberKeyboard: Equatable, Sendable {
    case digits, decimal, signed

    public static func forField(integer: Bool, minimum: Double?) -> NumberKeyboard {
        if let minimum, minimum < 0 { return .signed }
        return integer ? .digits : .decimal
    }
}

/// Typed-but-unsaved input, as bytes for `@SceneStorage`: iOS restores them when it brings the
/// scene back after ending the app. Only what was typed and not saved (saved values are in the
/// encrypted store); sealed with a Keychain key of this device (`KeychainKeyProvider` with its
/// own account in the app), as a draft may be a patient's value. Bytes that do not open (another
/// key, damaged) give no drafts.
public enum DraftArchive {
    private struct Entry: Codable {
        let field: String
        let group: String?
        let rowId: String?
        let text: String
        let unit: String?
    }

    private struct Archive: Codable {
        var cases: [String: [Entry]] = [:]
    }

    private static func open(_ sealed: Data, _ key: KeyProvider) -> Archive {
        guard !sealed.isEmpty, let plain = try? key.unwrap(wrapped: sealed),
              let archive = try? JSONDecoder().decode(Archive.self, from: plain) else { return Archive() }
        return archive
    }

    /// `sealed` with the drafts of `caseId` replaced by `drafts` (removed when empty). Empty
    /// bytes when nothing is left or the key is unavailable (drafts are then not kept).
    public static func store(_ drafts: [FieldPath: Draft], caseId: String, in sealed: Data, key: KeyProvider) -> Data {
        var all = open(sealed, key)
        let entries = drafts.map { Entry(field: $0.key.field, group: $0.key.group, rowId: $0.key.rowId, text: $0.value.text, unit: $0.value.unit) }
        all.cases[caseId] = entries.isEmpty ? nil : entries.sorted { ($0.group ?? "", $0.rowId ?? "", $0.field) < ($1.group ?? "", $1.rowId ?? "", $1.field) }
        guard !all.cases.isEmpty, let plain = try? JSONEncoder().encode(all), let out = try? key.wrap(dataKey: plain) else { return Data() }
        return out
    }

    /// The drafts of `caseId` in `sealed`.
    public static func drafts(caseId: String, in sealed: Data, key: KeyProvider) -> [FieldPath: Draft] {
        var out: [FieldPath: Draft] = [:]
        for e in open(sealed, key).cases[caseId] ?? [] {
            out[FieldPath(field: e.field, group: e.group, rowId: e.rowId)] = Draft(text: e.text, unit: e.unit)
        }
        return out
    }
}

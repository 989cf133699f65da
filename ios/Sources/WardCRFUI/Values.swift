import Foundation
import WardCRF

/// What a clinician has typed into one field, in the unit chosen (UCUM code), not yet saved.
public struct Draft: Equatable, Sendable {
    public var text: String
    public var unit: String?
}

/// A draft read as the field's typed answer.
public enum Input: Equatable {
    case empty
    /// `unit`: the unit a number was entered in when it is not the field's own (the core
    /// converts it).
    case answer(AnswerValue, unit: String?)
    case invalid(MessageKey)
}

/// Typed answers and the text of a field's input: the core's session gives and takes
/// `AnswerValue`s; these turn them into what an input shows and back. Reading is by the field's
/// kind only (a number, a whole number, the codes of a choice); the form's rules stay in the core.
public enum AnswerInput {
    /// A number as typed: `80`, not `80.0`.
    public static func number(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    /// The text an input shows for an answer.
    public static func text(_ answer: AnswerValue?) -> String {
        switch answer {
        case nil: return ""
        case let .text(text)?: return text
        case let .number(value)?: return number(value)
        case let .date(date)?: return date
        case let .dateTime(datetime)?: return datetime
        case let .choice(code)?: return code
        case let .choices(codes)?: return codes.joined(separator: ",")
        case let .boolean(value)?: return value ? "true" : "false"
        }
    }

    /// The draft that shows a field's stored answer: what was entered, in the unit it was
    /// entered in; an empty field starts in the site's default unit.
    public static func draft(_ field: SessionField) -> Draft {
        if let entered = field.entered {
            return Draft(text: number(entered.value), unit: entered.unit)
        }
        if field.answer == nil {
            return Draft(text: "", unit: field.defaultUnit ?? field.unit?.code)
        }
        return Draft(text: text(field.answer), unit: field.unit?.code)
    }

    /// The draft of a picked answer.
    public static func draft(_ field: SessionField, answer: AnswerValue?) -> Draft {
        Draft(text: text(answer), unit: field.unit?.code)
    }

    /// Reads a draft as the field's kind; decimal commas (German keyboards) are accepted.
    public static func read(_ field: SessionField, _ draft: Draft) -> Input {
        let text = draft.text.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.isEmpty { return .empty }
        switch field.kind {
        case .integer, .decimal:
            guard let value = Double(text.replacingOccurrences(of: ",", with: ".")), value.isFinite else { return .invalid(.notANumber) }
            let otherUnit = draft.unit != nil && draft.unit != field.unit?.code ? draft.unit : nil
            if otherUnit == nil && field.kind == .integer && value.rounded() != value { return .invalid(.notAWholeNumber) }
            return .answer(.number(value: value), unit: otherUnit)
        case .boolean:
            return .answer(.boolean(value: text == "true"), unit: nil)
        case .multichoice:
            let codes = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            return codes.isEmpty ? .empty : .answer(.choices(codes: codes), unit: nil)
        case .choice:
            return .answer(.choice(code: text), unit: nil)
        case .date:
            return .answer(.date(date: text), unit: nil)
        case .datetime:
            return .answer(.dateTime(datetime: text), unit: nil)
        case .text:
            return .answer(.text(text: text), unit: nil)
        }
    }

    /// A hint while a number is typed in the field's own unit: outside the limits the core
    /// gives with the field (hard: refused, soft: needs a reason). The core decides on save.
    public static func limitHint(_ field: SessionField, _ draft: Draft) -> Severity? {
        guard case let .answer(.number(value), nil) = read(field, draft) else { return nil }
        func outside(_ range: ValueRange?) -> Bool {
            guard let range else { return false }
            return (range.min.map { value < $0 } ?? false) || (range.max.map { value > $0 } ?? false)
        }
        if outside(field.hardLimits) { return .error }
        if outside(field.softLimits) { return .warning }
        return nil
    }

    /// "Expected: 90–100 %", from the field's soft limits, for the reason prompt.
    public static func expectedRange(_ field: SessionField, _ lang: Language) -> String? {
        guard let range = field.softLimits, range.min != nil || range.max != nil else { return nil }
        var unit = ""
        if let display = field.unit?.display { unit = " " + display }
        let low = range.min.map(number) ?? "…"
        let high = range.max.map(number) ?? "…"
        let word: String = switch lang {
        case .en: "Expected"
        case .ja: "想定範囲"
        case .de: "Erwartet"
        }
        return "\(word): \(low)–\(high)\(unit)"
    }
}

/// Display helpers shared by the screens.
public enum Values {
    static func enteredWord(_ lang: Language) -> String {
        switch lang {
        case .en: return "entered"
        case .ja: return "入力値"
        case .de: return "eingegeben"
        }
    }

    public static func yesNo(_ value: Bool, _ lang: Language) -> String {
        switch lang {
        case .en: return value ? "Yes" : "No"
        case .ja: return value ? "はい" : "いいえ"
        case .de: return value ? "Ja" : "Nein"
        }
    }

    public static func time(_ epochSeconds: Int64, _ lang: Language, timeZone: TimeZone = .current) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: lang == .ja ? "ja" : lang == .de ? "de" : "en")
        f.timeZone = timeZone
        f.dateStyle = .medium
        f.timeStyle = .short
        return f.string(from: Date(timeIntervalSince1970: TimeInterval(epochSeconds)))
    }
}

extension Language {
    /// The app's language: Japanese or German when the device prefers them, else English.
    public static var preferred: Language {
        switch Locale.preferredLanguages.first?.prefix(2) {
        case "ja": return .ja
        case "de": return .de
        default: return .en
        }
    }
}

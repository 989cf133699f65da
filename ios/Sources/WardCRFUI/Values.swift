import Foundation
import WardCRF

/// What a clinician has typed into one field, in the unit chosen (UCUM code), not yet saved.
public struct Draft: Equatable, Sendable {
    public var text: String
    public var unit: String?
}

/// A draft read as a value to save.
public enum Input: Equatable {
    case empty
    /// JSON text; `quantity` when entered in another unit than the field's own.
    case value(json: String, quantity: Quantity?)
    case invalid(MessageKey)

    public struct Quantity: Equatable {
        public let value: Double
        public let unit: String
    }
}

/// Case values cross the FFI as JSON text; these read and show them (as Android's `Values`).
public enum Values {
    public static func parse(_ json: String) -> Any? {
        guard let data = json.data(using: .utf8) else { return nil }
        return try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
    }

    public static func json(_ value: Any?) -> String {
        guard let value, !(value is NSNull) else { return "null" }
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys]) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }

    /// The draft that shows a stored value: what was entered, in the unit it was entered in.
    public static func draft(_ field: FieldLayout, stored: Any?) -> Draft {
        let canonical = field.unit?.code
        switch stored {
        case let object as [String: Any]:
            let shown = (object["entered"] as? [String: Any]) ?? object
            return Draft(text: scalar(shown["value"]), unit: (shown["unit"] as? String) ?? canonical)
        case let array as [Any]:
            return Draft(text: array.map { scalar($0) }.joined(separator: ","), unit: canonical)
        default:
            return Draft(text: scalar(stored), unit: canonical)
        }
    }

    private static func scalar(_ value: Any?) -> String {
        switch value {
        case nil, is NSNull: return ""
        case let s as String: return s
        case let n as NSNumber:
            if CFGetTypeID(n) == CFBooleanGetTypeID() { return n.boolValue ? "true" : "false" }
            return n.stringValue
        default: return "\(value!)"
        }
    }

    /// Reads a draft as the field's kind; decimal commas (German keyboards) are accepted.
    public static func read(_ field: FieldLayout, _ draft: Draft) -> Input {
        let text = draft.text.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.isEmpty { return .empty }
        let canonical = field.unit?.code
        let otherUnit = draft.unit != nil && canonical != nil && draft.unit != canonical
        switch field.kind {
        case .integer, .decimal:
            guard let number = Double(text.replacingOccurrences(of: ",", with: ".")) else { return .invalid(.notANumber) }
            if otherUnit, let unit = draft.unit {
                return .value(json: json(["value": number, "unit": unit]), quantity: .init(value: number, unit: unit))
            }
            if field.kind == .integer && number.rounded() != number { return .invalid(.notAWholeNumber) }
            return .value(json: number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number), quantity: nil)
        case .boolean:
            return .value(json: text == "true" ? "true" : "false", quantity: nil)
        case .multichoice:
            let codes = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            return .value(json: json(codes), quantity: nil)
        case .text, .date, .datetime, .choice:
            return .value(json: json(text), quantity: nil)
        }
    }

    /// A value as a person reads it: `38.5 °C (entered 101.3 °F)`, a choice's label, `—`.
    public static func display(_ field: FieldLayout?, _ value: Any?, _ lang: Language) -> String {
        switch value {
        case nil, is NSNull: return "—"
        case let object as [String: Any]:
            let main = quantity(field, object)
            if let entered = object["entered"] as? [String: Any] {
                return "\(main) (\(enteredWord(lang)) \(quantity(field, entered)))"
            }
            return main
        case let s as String:
            return field?.choices.first { $0.code == s }?.label ?? s
        case let array as [Any]:
            return array.map { display(field, $0, lang) }.joined(separator: ", ")
        case let n as NSNumber:
            if CFGetTypeID(n) == CFBooleanGetTypeID() { return yesNo(n.boolValue, lang) }
            return [n.stringValue, field?.unit?.display].compactMap { $0 }.joined(separator: " ")
        default:
            return "\(value!)"
        }
    }

    public static func display(_ field: FieldLayout?, json: String, _ lang: Language) -> String {
        display(field, parse(json), lang)
    }

    private static func quantity(_ field: FieldLayout?, _ q: [String: Any]) -> String {
        let number = scalar(q["value"])
        let code = q["unit"] as? String
        let units = [field?.unit].compactMap { $0 } + (field?.altUnits ?? [])
        let unit = units.first { $0.code == code }?.display ?? code
        return [number, unit].compactMap { $0 }.joined(separator: " ")
    }

    private static func enteredWord(_ lang: Language) -> String {
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

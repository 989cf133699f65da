// The bedside inputs of a form field that are more than a text field: a date picker that can
// take a year or a year and month when the form allows a partial date, a date-and-time picker,
// and a unit menu (the site's default unit first). They edit the field's draft (ISO text, a
// unit code); saving stays with the field row, so moving a picker does not record a change.
import SwiftUI
import WardCRF
import WardCRFUI

/// A date: a full date, or — when `partial` — a year, or a year and month. `text` is the ISO
/// text the core takes ("" while unset).
struct DateEntry: View {
    let label: String
    let partial: Bool
    @Binding var text: String

    private var value: PartialDate? { PartialDate(iso: text) }
    private static let years: [Int] = {
        let now = Calendar.current.component(.year, from: Date())
        return Array((1900...(now + 1)).reversed())
    }()

    var body: some View {
        VStack(alignment: .leading, spacing: 6) {
            HStack {
                Text(label)
                Spacer()
                if value == nil {
                    Button("date_set") { text = PartialDate(Date(), precision: .day).iso }
                } else {
                    Button { text = "" } label: { Image(systemName: "xmark.circle") }
                        .accessibilityLabel(Text("date_clear"))
                }
            }
            if let value {
                if partial {
                    Picker("date_precision", selection: Binding(get: { value.precision }, set: { text = value.with(precision: $0).iso })) {
                        Text("date_precision_year").tag(DatePrecision.year)
                        Text("date_precision_month").tag(DatePrecision.month)
                        Text("date_precision_day").tag(DatePrecision.day)
                    }
                    .pickerStyle(.segmented)
                }
                switch value.precision {
                case .day:
                    DatePicker(label, selection: Binding(
                        get: { value.date() ?? Date() },
                        set: { text = PartialDate($0, precision: .day).iso }), displayedComponents: .date)
                        .labelsHidden()
                case .month:
                    HStack {
                        Picker("date_month", selection: Binding(get: { value.month }, set: { m in
                            var v = value
                            v.month = m
                            text = v.iso
                        })) {
                            ForEach(1...12, id: \.self) { m in Text(Calendar.current.monthSymbols[m - 1]).tag(m) }
                        }
                        yearPicker(value)
                    }
                case .year:
                    yearPicker(value)
                }
            }
        }
    }

    private func yearPicker(_ value: PartialDate) -> some View {
        Picker("date_year", selection: Binding(get: { value.year }, set: { y in
            var v = value
            v.year = y
            text = v.iso
        })) {
            ForEach(Self.years, id: \.self) { Text(verbatim: String($0)).tag($0) }
        }
        .pickerStyle(.menu)
    }
}

/// A date and time (ISO 8601 with this device's offset).
struct DateTimeEntry: View {
    let label: String
    @Binding var text: String

    var body: some View {
        HStack {
            if let date = DateTimeText.date(text) {
                DatePicker(label, selection: Binding(get: { date }, set: { text = DateTimeText.iso($0) }),
                           displayedComponents: [.date, .hourAndMinute])
                Button { text = "" } label: { Image(systemName: "xmark.circle") }
                    .accessibilityLabel(Text("date_clear"))
            } else {
                Text(label)
                Spacer()
                Button("datetime_now") { text = DateTimeText.iso(Date()) }
            }
        }
    }
}

/// The unit a value is entered in: the site's default first, then the field's other units.
struct UnitMenu: View {
    let fieldLabel: String
    let units: [MeasureUnit]
    @Binding var selection: String

    var body: some View {
        if units.count > 1 {
            Picker(String(format: NSLocalizedString("field_unit %@", comment: ""), fieldLabel), selection: $selection) {
                ForEach(units, id: \.code) { Text($0.display).tag($0.code) }
            }
            .pickerStyle(.menu)
            .fixedSize()
        } else if let unit = units.first {
            Text(unit.display).foregroundStyle(.secondary)
        }
    }
}

extension NumberKeyboard {
    var uiKeyboard: UIKeyboardType {
        switch self {
        case .digits: return .numberPad
        case .decimal: return .decimalPad
        case .signed: return .numbersAndPunctuation
        }
    }
}

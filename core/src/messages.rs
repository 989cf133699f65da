//! The validation engine's own messages, in English, Japanese and German.
//!
//! Rule messages come from the form definition; these cover the built-in checks. Each names the
//! field by its label in the reader's language and says what to do.

use crate::lang::{Lang, Text};

/// What kind of answer a field expects, for "is not a ..." messages (German: already negated,
/// "keine Zahl", as German negates the noun).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expected {
    WholeNumber,
    Number,
    Date,
    PartialDate,
    DateTime,
    Text,
    YesNo,
    Codes,
    Row,
}

fn expected(e: Expected, lang: Lang) -> &'static str {
    use Expected::*;
    match (e, lang) {
        (WholeNumber, Lang::En) => "a whole number",
        (WholeNumber, Lang::Ja) => "整数",
        (WholeNumber, Lang::De) => "keine ganze Zahl",
        (Number, Lang::En) => "a number",
        (Number, Lang::Ja) => "数値",
        (Number, Lang::De) => "keine Zahl",
        (Date, Lang::En) => "a date (YYYY-MM-DD)",
        (Date, Lang::Ja) => "日付（YYYY-MM-DD）",
        (Date, Lang::De) => "kein Datum (JJJJ-MM-TT)",
        (PartialDate, Lang::En) => "a date (YYYY, YYYY-MM or YYYY-MM-DD)",
        (PartialDate, Lang::Ja) => "日付（YYYY、YYYY-MM または YYYY-MM-DD）",
        (PartialDate, Lang::De) => "kein Datum (JJJJ, JJJJ-MM oder JJJJ-MM-TT)",
        (DateTime, Lang::En) => "a date and time (YYYY-MM-DDTHH:MM)",
        (DateTime, Lang::Ja) => "日時（YYYY-MM-DDTHH:MM）",
        (DateTime, Lang::De) => "kein Zeitpunkt (JJJJ-MM-TTTHH:MM)",
        (Text, Lang::En) => "text",
        (Text, Lang::Ja) => "文字列",
        (Text, Lang::De) => "kein Text",
        (YesNo, Lang::En) => "yes or no (true/false)",
        (YesNo, Lang::Ja) => "はい・いいえ（true/false）",
        (YesNo, Lang::De) => "weder ja noch nein (true/false)",
        (Codes, Lang::En) => "a list of answer codes",
        (Codes, Lang::Ja) => "選択肢コードのリスト",
        (Codes, Lang::De) => "keine Liste von Antwortcodes",
        (Row, Lang::En) => "a list of rows, each an object of field values",
        (Row, Lang::Ja) => "行のリスト（各行は項目と値のオブジェクト）",
        (Row, Lang::De) => "keine Liste von Zeilen (je ein Objekt mit Feldwerten)",
    }
}

/// `value` shown with its unit, or nothing for identifying fields (never echo identifiers).
pub(crate) struct Shown<'a> {
    pub label: &'a Text,
    pub value: Option<Text>,
}

impl Shown<'_> {
    fn subject(&self, lang: Lang) -> String {
        let label = self.label.get(lang);
        match (self.value.as_ref().map(|v| v.get(lang)), lang) {
            (Some(v), Lang::Ja) => format!("{label}の値 {v} "),
            (Some(v), _) => format!("{label} {v} "),
            (None, Lang::Ja) => format!("{label}の値"),
            (None, _) => format!("{label} "),
        }
    }
}

pub(crate) fn required(label: &Text) -> Text {
    Text::from_fn(|l| match l {
        Lang::En => format!(
            "{} is required before the case can be marked complete.",
            label.get(l)
        ),
        Lang::Ja => format!("{}は症例を完了にする前に入力が必要です。", label.get(l)),
        Lang::De => format!(
            "{} muss ausgefüllt sein, bevor der Fall abgeschlossen werden kann.",
            label.get(l)
        ),
    })
}

pub(crate) fn hard_limit(s: &Shown, range: &Text) -> Text {
    Text::from_fn(|l| {
        let subj = s.subject(l);
        match l {
            Lang::En => format!(
                "{subj}is outside the possible range {}. Check the value and its unit.",
                range.get(l)
            ),
            Lang::Ja => format!(
                "{subj}は入力可能な範囲（{}）外です。値と単位を確認してください。",
                range.get(l)
            ),
            Lang::De => format!(
                "{subj}liegt außerhalb des möglichen Bereichs ({}). Bitte Wert und Einheit prüfen.",
                range.get(l)
            ),
        }
    })
}

/// Two messages as one (`a b`).
pub(crate) fn append(a: Text, b: &Text) -> Text {
    Text::from_fn(|l| match l {
        Lang::Ja => format!("{}{}", a.get(l), b.get(l)),
        _ => format!("{} {}", a.get(l), b.get(l)),
    })
}

/// The hint of a number that another unit of the field explains: `converted` is the value it
/// gives in the field's unit.
pub(crate) fn likely_unit(unit: &str, converted: &Shown) -> Text {
    Text::from_fn(|l| {
        let u = crate::units::display(unit, l);
        let v = converted
            .value
            .as_ref()
            .map(|v| v.get(l).to_string())
            .unwrap_or_default();
        match l {
            Lang::En => {
                format!("In {u} it would be {v}: choose {u} as the unit if that was meant.")
            }
            Lang::Ja => {
                format!("{u}での値であれば {v} です。その場合は単位に{u}を選んでください。")
            }
            Lang::De => format!("In {u} wären das {v}: falls so gemeint, {u} als Einheit wählen."),
        }
    })
}

/// A number typed in `typed_unit` that is untypical there and typical in `likely` (see
/// [`likely_unit`]): corrected, or confirmed with a reason.
pub(crate) fn unit_slip(label: &Text, number: f64, typed_unit: &str, likely: &Text) -> Text {
    Text::from_fn(|l| {
        let u = crate::units::display(typed_unit, l);
        let n = num(number);
        let label = label.get(l);
        match l {
            Lang::En => format!(
                "{label} {n} {u} is unusual in {u} and looks like a number in another unit. {} Otherwise confirm the value with a reason.",
                likely.get(l)
            ),
            Lang::Ja => format!(
                "{label}の値 {n} {u} は{u}としては通常みられない値で、別の単位の数値の可能性があります。{}正しい場合は理由を入力して確定してください。",
                likely.get(l)
            ),
            Lang::De => format!(
                "{label} {n} {u} ist in {u} ungewöhnlich und sieht nach einer anderen Einheit aus. {} Andernfalls den Wert mit Begründung bestätigen.",
                likely.get(l)
            ),
        }
    })
}

pub(crate) fn soft_limit(s: &Shown, range: &Text, age_banded: bool) -> Text {
    Text::from_fn(|l| {
        let subj = s.subject(l);
        let r = range.get(l);
        match (l, age_banded) {
            (Lang::En, false) => format!(
                "{subj}is outside the expected range {r}. Confirm it with a reason if it is correct."
            ),
            (Lang::En, true) => format!(
                "{subj}is outside the expected range for the patient's age ({r}). Confirm it with a reason if it is correct."
            ),
            (Lang::Ja, false) => format!(
                "{subj}は想定範囲（{r}）外です。正しい場合は理由を入力して確定してください。"
            ),
            (Lang::Ja, true) => format!(
                "{subj}は患者の年齢の想定範囲（{r}）外です。正しい場合は理由を入力して確定してください。"
            ),
            (Lang::De, false) => format!(
                "{subj}liegt außerhalb des erwarteten Bereichs ({r}). Falls korrekt, bitte mit Begründung bestätigen."
            ),
            (Lang::De, true) => format!(
                "{subj}liegt außerhalb des für das Alter erwarteten Bereichs ({r}). Falls korrekt, bitte mit Begründung bestätigen."
            ),
        }
    })
}

pub(crate) fn future_date(s: &Shown) -> Text {
    Text::from_fn(|l| {
        let subj = s.subject(l);
        match l {
            Lang::En => format!("{subj}is in the future. Check the date."),
            Lang::Ja => format!("{subj}は未来の日付です。日付を確認してください。"),
            Lang::De => format!("{subj}liegt in der Zukunft. Bitte Datum prüfen."),
        }
    })
}

pub(crate) fn wrong_type(label: &Text, input: Option<&str>, e: Expected) -> Text {
    Text::from_fn(|l| {
        let label = label.get(l);
        let want = expected(e, l);
        match (l, input) {
            (Lang::En, Some(i)) => format!("{label}: '{i}' is not {want}."),
            (Lang::En, None) => format!("{label}: the answer is not {want}."),
            (Lang::Ja, Some(i)) => format!("{label}：「{i}」は{want}ではありません。"),
            (Lang::Ja, None) => format!("{label}：入力が{want}ではありません。"),
            (Lang::De, Some(i)) => format!("{label}: „{i}“ ist {want}."),
            (Lang::De, None) => format!("{label}: Die Angabe ist {want}."),
        }
    })
}

pub(crate) fn not_a_choice(label: &Text, code: &str, options: &str) -> Text {
    Text::from_fn(|l| {
        let label = label.get(l);
        match l {
            Lang::En => format!("{label}: '{code}' is not one of the answer options ({options})."),
            Lang::Ja => format!("{label}：「{code}」は選択肢にありません（{options}）。"),
            Lang::De => {
                format!("{label}: „{code}“ ist keine der Antwortmöglichkeiten ({options}).")
            }
        }
    })
}

pub(crate) fn partial_date_not_allowed(label: &Text) -> Text {
    Text::from_fn(|l| {
        let label = label.get(l);
        match l {
            Lang::En => format!("{label} needs a full date (YYYY-MM-DD)."),
            Lang::Ja => format!("{label}は年月日すべて（YYYY-MM-DD）を入力してください。"),
            Lang::De => format!("{label} braucht ein vollständiges Datum (JJJJ-MM-TT)."),
        }
    })
}

pub(crate) fn unit_not_allowed(label: &Text, unit: &str, allowed: &str) -> Text {
    Text::from_fn(|l| {
        let label = label.get(l);
        match l {
            Lang::En => format!("{label}: the unit '{unit}' is not accepted here; use {allowed}."),
            Lang::Ja => format!(
                "{label}：単位「{unit}」は使用できません。{allowed} のいずれかを使用してください。"
            ),
            Lang::De => format!(
                "{label}: Die Einheit „{unit}“ ist hier nicht zulässig; bitte {allowed} verwenden."
            ),
        }
    })
}

pub(crate) fn too_long(label: &Text, max: u32) -> Text {
    Text::from_fn(|l| {
        let label = label.get(l);
        match l {
            Lang::En => format!("{label} is longer than {max} characters."),
            Lang::Ja => format!("{label}は{max}文字以内で入力してください。"),
            Lang::De => format!("{label} ist länger als {max} Zeichen."),
        }
    })
}

pub(crate) fn unknown_field(id: &str, group: Option<&Text>) -> Text {
    Text::from_fn(|l| match (l, group) {
        (Lang::En, None) => format!("'{id}' is not a field of this form."),
        (Lang::En, Some(g)) => format!("'{id}' is not a field of {}.", g.get(l)),
        (Lang::Ja, None) => format!("「{id}」はこの調査票の項目ではありません。"),
        (Lang::Ja, Some(g)) => format!("「{id}」は{}の項目ではありません。", g.get(l)),
        (Lang::De, None) => format!("„{id}“ ist kein Feld dieses Erhebungsbogens."),
        (Lang::De, Some(g)) => format!("„{id}“ ist kein Feld von {}.", g.get(l)),
    })
}

pub(crate) fn hidden_value(label: &Text) -> Text {
    Text::from_fn(|l| {
        let label = label.get(l);
        match l {
            Lang::En => format!(
                "{label} has a value, but does not apply given the other answers. Clear it, or correct the answer it depends on."
            ),
            Lang::Ja => format!(
                "{label}に値が入力されていますが、他の回答によりこの項目は該当しません。値を削除するか、関連する回答を修正してください。"
            ),
            Lang::De => format!(
                "{label} enthält einen Wert, ist aber nach den übrigen Angaben nicht zutreffend. Bitte Wert löschen oder die zugrunde liegende Angabe korrigieren."
            ),
        }
    })
}

pub(crate) fn too_many_rows(group: &Text, max: u32) -> Text {
    Text::from_fn(|l| {
        let g = group.get(l);
        match l {
            Lang::En => format!("{g} has more than {max} rows."),
            Lang::Ja => format!("{g}の行数が上限（{max}行）を超えています。"),
            Lang::De => format!("{g} hat mehr als {max} Zeilen."),
        }
    })
}

pub(crate) fn bad_rows(group: &Text) -> Text {
    wrong_type(group, None, Expected::Row)
}

/// A range such as `25–45 °C`, `≥ 0 mg/L` or `≤ 100 %`.
pub(crate) fn range(min: Option<f64>, max: Option<f64>, unit: Option<&str>) -> Text {
    Text::from_fn(|l| {
        let u = unit
            .map(|u| crate::units::display(u, l))
            .unwrap_or_default();
        let sp = if u.is_empty() {
            String::new()
        } else {
            format!(" {u}")
        };
        match (min, max) {
            (Some(a), Some(b)) => format!("{}–{}{sp}", num(a), num(b)),
            (Some(a), None) => format!("≥ {}{sp}", num(a)),
            (None, Some(b)) => format!("≤ {}{sp}", num(b)),
            (None, None) => String::new(),
        }
    })
}

/// A number as a clinician writes it: `38.5`, `120`, not `120.0`.
pub(crate) fn num(v: f64) -> String {
    crate::expr::format_num(v)
}

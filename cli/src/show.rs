//! Human-readable rendering of forms and validation reports for the terminal.

use std::fmt::Write;
use wardcrf_core::{FieldType, Form, FormField, Item, Lang, Limits, Report, Text, ucum};

fn limits(l: &Limits) -> String {
    let n = |v: f64| format!("{v}");
    match (l.min, l.max) {
        (Some(a), Some(b)) => format!("{}–{}", n(a), n(b)),
        (Some(a), None) => format!("≥{}", n(a)),
        (None, Some(b)) => format!("≤{}", n(b)),
        (None, None) => String::new(),
    }
}

fn kind_label(kind: FieldType, lang: Lang) -> &'static str {
    use FieldType::*;
    match (kind, lang) {
        (Text, Lang::Ja) => "テキスト",
        (Integer, Lang::Ja) => "整数",
        (Decimal, Lang::Ja) => "数値",
        (Date, Lang::Ja) => "日付",
        (Datetime, Lang::Ja) => "日時",
        (Choice, Lang::Ja) => "単一選択",
        (Multichoice, Lang::Ja) => "複数選択",
        (Boolean, Lang::Ja) => "はい/いいえ",
        (Text, Lang::De) => "Text",
        (Integer, Lang::De) => "Ganzzahl",
        (Decimal, Lang::De) => "Dezimalzahl",
        (Date, Lang::De) => "Datum",
        (Datetime, Lang::De) => "Zeitpunkt",
        (Choice, Lang::De) => "Einfachauswahl",
        (Multichoice, Lang::De) => "Mehrfachauswahl",
        (Boolean, Lang::De) => "Ja/Nein",
        (k, _) => k.name(),
    }
}

fn word(en: &'static str, ja: &'static str, de: &'static str, lang: Lang) -> &'static str {
    match lang {
        Lang::En => en,
        Lang::Ja => ja,
        Lang::De => de,
    }
}

fn field_line(out: &mut String, f: &FormField, lang: Lang, indent: &str) {
    let mut meta = vec![kind_label(f.def.kind, lang).to_string()];
    if let Some(u) = &f.def.unit {
        let shown = ucum::display(u, lang);
        meta.push(if shown.is_empty() { u.clone() } else { shown });
    }
    if let Some(h) = &f.def.hard {
        meta.push(format!(
            "{} {}",
            word("hard", "入力可能", "möglich", lang),
            limits(h)
        ));
    }
    if let Some(s) = &f.def.soft {
        meta.push(format!(
            "{} {}",
            word("expected", "想定", "erwartet", lang),
            limits(s)
        ));
    }
    if !f.def.alt_units.is_empty() {
        let alts: Vec<String> = f
            .def
            .alt_units
            .iter()
            .map(|a| ucum::display(&a.unit, lang))
            .collect();
        meta.push(format!(
            "{} {}",
            word("also", "他の単位", "auch", lang),
            alts.join(", ")
        ));
    }
    let marks = format!(
        "{}{}",
        if f.required { "*" } else { " " },
        if f.def.identifying { "🔒" } else { "  " }
    );
    let _ = writeln!(
        out,
        "{indent}{marks} {:<28} {}  [{}]",
        f.id(),
        f.def.label.get(lang),
        meta.join("; ")
    );
    if let Some(cond) = &f.def.show_if {
        let _ = writeln!(
            out,
            "{indent}    ↳ {} {cond}",
            word("shown if", "表示条件:", "angezeigt, wenn", lang)
        );
    }
    if !f.choices.is_empty() {
        let shown: Vec<String> = f
            .choices
            .iter()
            .take(8)
            .map(|c| format!("{}={}", c.code, c.label.get(lang)))
            .collect();
        let more = if f.choices.len() > 8 {
            format!(" … (+{})", f.choices.len() - 8)
        } else {
            String::new()
        };
        let _ = writeln!(out, "{indent}    {}{more}", shown.join(" | "));
    }
}

/// The form, section by section, in `lang`.
pub fn render(form: &Form, lang: Lang) -> String {
    let def = form.definition();
    let mut out = String::new();
    let parts: Vec<String> = form
        .parts()
        .iter()
        .map(|(id, v)| format!("{id} {v}"))
        .collect();
    let _ = writeln!(out, "{} ({})", def.title.get(lang), parts.join(" + "));
    let legend = Text::new(
        "* required for completion   🔒 identifying (never in research exports)",
        "* 完了に必須   🔒 個人識別情報（研究用データには出力されない）",
        "* für den Abschluss erforderlich   🔒 identifizierend (nie in Forschungsexporten)",
    );
    let _ = writeln!(out, "{}\n", legend.get(lang));
    for section in &def.sections {
        let _ = writeln!(out, "■ {} [{}]", section.label.get(lang), section.id);
        for item in &section.items {
            match item {
                Item::Field(f) => {
                    if let Some(ff) = form.field(&f.id) {
                        field_line(&mut out, ff, lang, "  ");
                    }
                }
                Item::Group(g) => {
                    let _ = writeln!(out, "  ↻ {} [{}] (repeating)", g.label.get(lang), g.id);
                    for f in &g.fields {
                        if let Some(ff) = form.field(&f.id) {
                            field_line(&mut out, ff, lang, "    ");
                        }
                    }
                }
            }
        }
        out.push('\n');
    }
    if !form.definition().rules.is_empty() {
        let _ = writeln!(out, "Cross-field rules:");
        for r in &form.definition().rules {
            let _ = writeln!(out, "  {:<32} {}", r.id, r.check);
        }
    }
    out
}

fn where_(form: &Form, issue: &wardcrf_core::Issue, lang: Lang) -> String {
    let label = form
        .field(&issue.field)
        .map_or(issue.field.clone(), |f| f.def.label.get(lang).to_string());
    match (&issue.group, issue.row) {
        (Some(g), Some(r)) => format!("{g}[{r}].{} ({label})", issue.field),
        _ => format!("{} ({label})", issue.field),
    }
}

/// A validation report for the terminal.
pub fn render_report(report: &Report, form: &Form, lang: Lang) -> String {
    let mut out = String::new();
    let heading = |en, ja, de| word(en, ja, de, lang);
    let _ = writeln!(
        out,
        "{}: {}",
        heading("Errors", "エラー", "Fehler"),
        report.errors.len()
    );
    for e in &report.errors {
        let _ = writeln!(
            out,
            "  ✗ {} [{}]\n    {}",
            where_(form, e, lang),
            e.code.as_str(),
            e.message.get(lang)
        );
    }
    let _ = writeln!(
        out,
        "{}: {}",
        heading("Warnings", "警告", "Warnungen"),
        report.warnings.len()
    );
    for w in &report.warnings {
        let confirmed = w
            .confirmed
            .as_ref()
            .map(|c| format!(" ✓ {c}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  ! {} [{}]{confirmed}\n    {}",
            where_(form, w, lang),
            w.code.as_str(),
            w.message.get(lang)
        );
    }
    if !report.hidden.is_empty() {
        let _ = writeln!(
            out,
            "{}: {}",
            heading(
                "Values in fields that do not apply given the other answers",
                "他の回答により該当しない項目の値",
                "Werte in Feldern, die nach den übrigen Angaben nicht zutreffen"
            ),
            report.hidden.len()
        );
        for h in &report.hidden {
            let _ = writeln!(out, "  - {} [{}]", where_(form, h, lang), h.code.as_str());
        }
    }
    if !report.missing.is_empty() {
        let fields: Vec<&str> = report.missing.iter().map(|m| m.field.as_str()).collect();
        let _ = writeln!(
            out,
            "{} ({}): {}",
            heading("Still to fill in", "未入力の必須項目", "Noch auszufüllen"),
            fields.len(),
            fields.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "{}:",
        heading(
            "Values (canonical units)",
            "値（標準単位）",
            "Werte (Standardeinheiten)"
        )
    );
    let _ = writeln!(
        out,
        "{}",
        serde_json::to_string_pretty(&report.values).unwrap_or_default()
    );
    out
}

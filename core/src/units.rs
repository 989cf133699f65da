//! The UCUM units WardCRF knows: how to show them, and how to convert between them.
//!
//! This is a table of the units clinical forms use, not a general UCUM parser. Each unit has a
//! dimension and an affine map to that dimension's base (`base = value × factor + offset`), so
//! any two units of one dimension convert. Units with annotations (`ug/mL{FEU}`) form their own
//! dimension: fibrinogen-equivalent units never silently convert to plain mass concentration.

use crate::lang::Lang;

struct UnitDef {
    code: &'static str,
    dimension: &'static str,
    factor: f64,
    offset: f64,
    display: &'static str,
}

const fn u(
    code: &'static str,
    dimension: &'static str,
    factor: f64,
    display: &'static str,
) -> UnitDef {
    UnitDef {
        code,
        dimension,
        factor,
        offset: 0.0,
        display,
    }
}

/// Dimension of units that are accepted as canonical but never converted.
const NONE: &str = "";

const UNITS: &[UnitDef] = &[
    // temperature (base: Cel)
    u("Cel", "temperature", 1.0, "°C"),
    UnitDef {
        code: "[degF]",
        dimension: "temperature",
        factor: 5.0 / 9.0,
        offset: -32.0 * 5.0 / 9.0,
        display: "°F",
    },
    UnitDef {
        code: "K",
        dimension: "temperature",
        factor: 1.0,
        offset: -273.15,
        display: "K",
    },
    // mass (base: kg)
    u("kg", "mass", 1.0, "kg"),
    u("g", "mass", 1e-3, "g"),
    u("mg", "mass", 1e-6, "mg"),
    u("ug", "mass", 1e-9, "µg"),
    u("ng", "mass", 1e-12, "ng"),
    u("[lb_av]", "mass", 0.453_592_37, "lb"),
    u("[oz_av]", "mass", 0.028_349_523_125, "oz"),
    // length (base: m)
    u("m", "length", 1.0, "m"),
    u("cm", "length", 1e-2, "cm"),
    u("mm", "length", 1e-3, "mm"),
    u("[in_i]", "length", 0.0254, "in"),
    u("[ft_i]", "length", 0.3048, "ft"),
    // volume (base: L)
    u("L", "volume", 1.0, "L"),
    u("dL", "volume", 0.1, "dL"),
    u("mL", "volume", 1e-3, "mL"),
    u("uL", "volume", 1e-6, "µL"),
    // mass concentration (base: g/L)
    u("g/L", "mass-concentration", 1.0, "g/L"),
    u("g/dL", "mass-concentration", 10.0, "g/dL"),
    u("mg/mL", "mass-concentration", 1.0, "mg/mL"),
    u("mg/dL", "mass-concentration", 1e-2, "mg/dL"),
    u("mg/L", "mass-concentration", 1e-3, "mg/L"),
    u("ug/mL", "mass-concentration", 1e-3, "µg/mL"),
    u("ug/dL", "mass-concentration", 1e-5, "µg/dL"),
    u("ug/L", "mass-concentration", 1e-6, "µg/L"),
    u("ng/mL", "mass-concentration", 1e-6, "ng/mL"),
    u("ng/L", "mass-concentration", 1e-9, "ng/L"),
    u("pg/mL", "mass-concentration", 1e-9, "pg/mL"),
    // fibrinogen-equivalent units (D-dimer), base: ug/mL{FEU}
    u("ug/mL{FEU}", "mass-concentration-feu", 1.0, "µg/mL FEU"),
    u("mg/L{FEU}", "mass-concentration-feu", 1.0, "mg/L FEU"),
    u("ng/mL{FEU}", "mass-concentration-feu", 1e-3, "ng/mL FEU"),
    u("ug/L{FEU}", "mass-concentration-feu", 1e-3, "µg/L FEU"),
    // substance concentration (base: mol/L)
    u("mol/L", "substance-concentration", 1.0, "mol/L"),
    u("mmol/L", "substance-concentration", 1e-3, "mmol/L"),
    u("umol/L", "substance-concentration", 1e-6, "µmol/L"),
    u("nmol/L", "substance-concentration", 1e-9, "nmol/L"),
    // number concentration, cell counts (base: /L)
    u("10*9/L", "number-concentration", 1e9, "×10⁹/L"),
    u("10*12/L", "number-concentration", 1e12, "×10¹²/L"),
    u("10*3/uL", "number-concentration", 1e9, "×10³/µL"),
    u("10*4/uL", "number-concentration", 1e10, "×10⁴/µL"),
    u("10*6/uL", "number-concentration", 1e12, "×10⁶/µL"),
    u("/uL", "number-concentration", 1e6, "/µL"),
    u("/nL", "number-concentration", 1e9, "/nL"),
    // pressure (base: Pa)
    u("mm[Hg]", "pressure", 133.322_387_415, "mmHg"),
    u("kPa", "pressure", 1000.0, "kPa"),
    u("cm[H2O]", "pressure", 98.0665, "cmH₂O"),
    // volume flow (base: L/min)
    u("L/min", "flow", 1.0, "L/min"),
    u("mL/min", "flow", 1e-3, "mL/min"),
    // frequency (base: /min)
    u("/min", "frequency", 1.0, "/min"),
    u("/h", "frequency", 1.0 / 60.0, "/h"),
    // catalytic concentration (base: U/L; 1 µkat/L = 60 U/L)
    u("U/L", "catalytic-concentration", 1.0, "U/L"),
    u("ukat/L", "catalytic-concentration", 60.0, "µkat/L"),
    // time (base: s)
    u("s", "time", 1.0, "s"),
    u("min", "time", 60.0, "min"),
    u("h", "time", 3600.0, "h"),
    u("d", "time", 86_400.0, "d"),
    u("wk", "time", 604_800.0, "wk"),
    u("mo", "time", 2_629_746.0, "mo"),
    u("a", "time", 31_556_952.0, "a"),
    // fraction
    u("%", "fraction", 1.0, "%"),
    // accepted as canonical, never converted
    u("[pH]", NONE, 1.0, ""),
    u("[IU]", NONE, 1.0, "IU"),
    u("[IU]/L", NONE, 1.0, "IU/L"),
    u("mg/kg", NONE, 1.0, "mg/kg"),
    u("mL/kg", NONE, 1.0, "mL/kg"),
    u("kg/m2", NONE, 1.0, "kg/m²"),
    // analyte-specific: the field gives the factor (monovalent ions: 1 mEq/L = 1 mmol/L; urea
    // by mass against urea nitrogen by mass: the ratio of their molar masses' nitrogen)
    u("meq/L", NONE, 1.0, "mEq/L"),
    u("mg/dL{urea}", NONE, 1.0, "mg/dL urea"),
];

fn lookup(code: &str) -> Option<&'static UnitDef> {
    UNITS.iter().find(|d| d.code == code)
}

/// Whether `code` is a pure UCUM annotation such as `{score}` or `{Ct}` (a count of nothing).
fn is_annotation(code: &str) -> bool {
    code.len() > 2
        && code.starts_with('{')
        && code.ends_with('}')
        && code[1..code.len() - 1]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ' '))
}

/// Whether `code` is a unit this table knows (or a pure annotation).
pub fn is_known(code: &str) -> bool {
    lookup(code).is_some() || is_annotation(code)
}

/// An affine conversion `to = from × factor + offset`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conversion {
    pub factor: f64,
    pub offset: f64,
}

impl Conversion {
    /// Applies the conversion.
    pub fn apply(&self, v: f64) -> f64 {
        v * self.factor + self.offset
    }
}

/// The conversion from `from` to `to` given by the table, when both share a dimension.
pub fn conversion(from: &str, to: &str) -> Option<Conversion> {
    let (a, b) = (lookup(from)?, lookup(to)?);
    if a.dimension.is_empty() || a.dimension != b.dimension {
        return None;
    }
    // base = v·fa + oa ; to = (base − ob) / fb
    Some(Conversion {
        factor: a.factor / b.factor,
        offset: (a.offset - b.offset) / b.factor,
    })
}

/// How a unit is shown to a clinician (`Cel` → `°C`, `{score}` → nothing).
pub fn display(code: &str, lang: Lang) -> String {
    match (code, lang) {
        ("a", Lang::En) => return "years".into(),
        ("a", Lang::Ja) => return "歳".into(),
        ("a", Lang::De) => return "Jahre".into(),
        ("d", Lang::En) => return "days".into(),
        ("d", Lang::Ja) => return "日".into(),
        ("d", Lang::De) => return "Tage".into(),
        ("mg/dL{urea}", Lang::Ja) => return "mg/dL（尿素）".into(),
        ("mg/dL{urea}", Lang::De) => return "mg/dL Harnstoff".into(),
        _ => {}
    }
    if is_annotation(code) {
        return String::new();
    }
    lookup(code).map_or_else(|| code.to_string(), |d| d.display.to_string())
}

/// Rounds `v` to `decimals` places, or to 10 significant digits (to drop floating-point noise
/// such as 38.500000000000007) when no precision is given.
pub fn round(v: f64, decimals: Option<u8>) -> f64 {
    if !v.is_finite() || v == 0.0 {
        return v;
    }
    let places = match decimals {
        Some(d) => i32::from(d),
        None => 9 - v.abs().log10().floor() as i32,
    };
    if !(-15..=15).contains(&places) {
        return v;
    }
    let scale = 10f64.powi(places);
    let r = (v * scale).round() / scale;
    if r.is_finite() { r } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(from: &str, to: &str, v: f64) -> f64 {
        round(conversion(from, to).unwrap().apply(v), None)
    }

    #[test]
    fn converts_temperature_mass_and_length() {
        assert_eq!(conv("[degF]", "Cel", 101.3), 38.5);
        assert_eq!(conv("[degF]", "Cel", 32.0), 0.0);
        assert_eq!(conv("K", "Cel", 310.15), 37.0);
        assert_eq!(conv("Cel", "[degF]", 100.0), 212.0);
        assert_eq!(conv("[lb_av]", "kg", 154.0), 69.85322498);
        assert_eq!(conv("[in_i]", "cm", 70.0), 177.8);
    }

    #[test]
    fn converts_laboratory_units() {
        assert_eq!(conv("mg/dL", "mg/L", 2.5), 25.0);
        assert_eq!(conv("mg/L", "mg/dL", 25.0), 2.5);
        assert_eq!(conv("10*3/uL", "10*9/L", 7.2), 7.2);
        // Japanese platelet counts (×10⁴/µL) and counts per microlitre
        assert_eq!(conv("10*4/uL", "10*9/L", 15.2), 152.0);
        assert_eq!(conv("/uL", "10*9/L", 6500.0), 6.5);
        assert_eq!(conv("ukat/L", "U/L", 0.5), 30.0);
        assert_eq!(conv("ng/mL{FEU}", "ug/mL{FEU}", 500.0), 0.5);
        assert_eq!(conv("kPa", "mm[Hg]", 13.3), 99.75818959);
    }

    #[test]
    fn refuses_conversion_across_dimensions_and_annotations() {
        assert!(conversion("mg/L", "mmol/L").is_none());
        assert!(conversion("ug/mL{FEU}", "ug/mL").is_none());
        assert!(conversion("[pH]", "[pH]").is_none());
        assert!(conversion("furlong", "m").is_none());
    }

    #[test]
    fn knows_annotations_and_displays_units() {
        assert!(is_known("{score}") && is_known("10*9/L") && !is_known("{}") && !is_known("kgs"));
        assert_eq!(display("Cel", Lang::De), "°C");
        assert_eq!(display("{Ct}", Lang::En), "");
        assert_eq!(display("a", Lang::Ja), "歳");
    }

    #[test]
    fn rounds_to_places_or_significant_digits() {
        assert_eq!(round(38.500_000_000_000_01, None), 38.5);
        assert_eq!(round(37.777_777, Some(1)), 37.8);
        assert_eq!(round(0.000_123_456_789_123, None), 0.000_123_456_789_1);
        assert!(round(f64::NAN, Some(1)).is_nan());
    }
}

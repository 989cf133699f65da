//! Which cases a research export may hold: the consent rule, in one function
//! ([`consent_covers`]).
//!
//! A research export states the uses of the data it needs ([`Purpose`]); secondary use for
//! research is always implied. The core form records the patient's consent in the admission
//! section: `consent_status` (`1` consent obtained, `0` no consent, `2` waiver approved by the
//! ethics committee, `99` unknown), `consent_scope` (the uses ticked on the signed consent
//! form, shown when consent was obtained), `consent_withdrawn` and `consent_withdrawal_date`.
//!
//! A case is in a research export only when
//! - consent was obtained (`1`), it is not withdrawn, and its scope names secondary use and
//!   every use the export needs; a consent whose scope was left empty covers secondary use
//!   only (as every consent recorded before the form asked for the scope: the study's consent
//!   form always covered research use of the registry data, nothing more); or
//! - the ethics committee approved a waiver (`2`) and the export needs nothing beyond
//!   secondary use. A waiver covers the collection and research use of the data the approved
//!   protocol names; it is not consent to genome analysis, to provision to companies or to a
//!   transfer between Japan and Germany, which the Japanese ethical guidelines and the GDPR
//!   (Art. 9(2)(a), Art. 49) tie to the patient's own consent.
//!
//! Every other case is left out: no consent, unknown, no answer, a scope without a needed use,
//! and a withdrawn consent. A withdrawal is read conservatively: `consent_withdrawn` holding
//! anything but `false` (or no answer) keeps the case out, whatever the consent status says.
//!
//! Exports that are not research exports (data managers at the repository) hold every case.

use serde_json::{Map, Value};

/// The consent status field of the core form (a choice: `1`, `0`, `2`, `99`).
pub const CONSENT_STATUS: &str = "consent_status";
/// The uses the patient consented to (a multiple choice of [`Purpose`] codes).
pub const CONSENT_SCOPE: &str = "consent_scope";
/// Whether the patient withdrew the consent (a boolean).
pub const CONSENT_WITHDRAWN: &str = "consent_withdrawn";

/// A use of the data that a research export needs, as the consent form names it (the codes
/// of `consent_scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Purpose {
    /// Secondary use of data and samples for research: every research export needs it.
    SecondaryUse,
    /// Genome and genetic analysis.
    Genome,
    /// Provision to companies (including pharmaceutical companies).
    Companies,
    /// Transfer between Japan and Germany.
    JpDeTransfer,
}

impl Purpose {
    /// Every purpose, in the order of the consent form.
    pub const ALL: [Purpose; 4] = [
        Purpose::SecondaryUse,
        Purpose::Genome,
        Purpose::Companies,
        Purpose::JpDeTransfer,
    ];

    /// The code of the purpose in `consent_scope`, in URLs and on the command line.
    pub fn code(self) -> &'static str {
        match self {
            Purpose::SecondaryUse => "secondary_use",
            Purpose::Genome => "genome",
            Purpose::Companies => "companies",
            Purpose::JpDeTransfer => "jp_de_transfer",
        }
    }

    /// The purpose of a code.
    pub fn parse(code: &str) -> Option<Purpose> {
        Purpose::ALL.into_iter().find(|p| p.code() == code)
    }

    /// The purposes of a comma-separated list (`genome,jp_de_transfer`; blanks around the
    /// codes and empty items are ignored). Err: the first unknown code, with the known ones.
    pub fn parse_list(list: &str) -> Result<Vec<Purpose>, String> {
        let mut out = Vec::new();
        for code in list.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            let p = Purpose::parse(code).ok_or_else(|| {
                let known: Vec<&str> = Purpose::ALL.iter().map(|p| p.code()).collect();
                format!(
                    "'{}' is not a purpose of a research export: use {}",
                    code.chars().take(40).collect::<String>(),
                    known.join(", ")
                )
            })?;
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out.sort();
        Ok(out)
    }
}

/// Whether the consent recorded in a case's `values` (its current values, before any
/// de-identification) covers a research export that needs `purposes` (secondary use is
/// always implied). See the module docs for the rule.
pub fn consent_covers(values: &Map<String, Value>, purposes: &[Purpose]) -> bool {
    let answer = |field: &str| values.get(field).map(super::plain).unwrap_or(&Value::Null);
    let withdrawn = !matches!(answer(CONSENT_WITHDRAWN), Value::Null | Value::Bool(false));
    if withdrawn {
        return false;
    }
    let status = match answer(CONSENT_STATUS) {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return false,
    };
    match status.as_str() {
        "1" => {
            let scope: Vec<&str> = match answer(CONSENT_SCOPE) {
                // Left empty: the study's consent, which covers secondary use only.
                Value::Null => vec![Purpose::SecondaryUse.code()],
                Value::Array(codes) if codes.is_empty() => vec![Purpose::SecondaryUse.code()],
                Value::Array(codes) => codes.iter().filter_map(Value::as_str).collect(),
                _ => return false,
            };
            std::iter::once(Purpose::SecondaryUse)
                .chain(purposes.iter().copied())
                .all(|p| scope.contains(&p.code()))
        }
        "2" => purposes.iter().all(|p| *p == Purpose::SecondaryUse),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn case(values: Value) -> Map<String, Value> {
        values.as_object().unwrap().clone()
    }

    const NONE: &[Purpose] = &[];
    const GENOME: &[Purpose] = &[Purpose::Genome];
    const GENOME_TRANSFER: &[Purpose] = &[Purpose::Genome, Purpose::JpDeTransfer];

    #[test]
    fn consent_with_a_scope_covers_exactly_the_uses_it_names() {
        let all = case(json!({
            "consent_status": "1",
            "consent_scope": ["secondary_use", "genome", "companies", "jp_de_transfer"],
            "consent_withdrawn": false
        }));
        for purposes in [NONE, GENOME, GENOME_TRANSFER, &Purpose::ALL] {
            assert!(consent_covers(&all, purposes), "{purposes:?}");
        }
        let secondary = case(json!({"consent_status": "1", "consent_scope": ["secondary_use"]}));
        assert!(consent_covers(&secondary, NONE));
        assert!(consent_covers(&secondary, &[Purpose::SecondaryUse]));
        assert!(!consent_covers(&secondary, GENOME));
        let genome =
            case(json!({"consent_status": "1", "consent_scope": ["secondary_use", "genome"]}));
        assert!(consent_covers(&genome, GENOME));
        assert!(!consent_covers(&genome, GENOME_TRANSFER));
        assert!(!consent_covers(&genome, &[Purpose::Companies]));
        // Secondary use is always needed, even when the export names only another use.
        let no_secondary = case(json!({"consent_status": "1", "consent_scope": ["genome"]}));
        assert!(!consent_covers(&no_secondary, NONE));
        assert!(!consent_covers(&no_secondary, GENOME));
        // No scope recorded (consents recorded before the form asked): secondary use only.
        for scope in [json!(null), json!([])] {
            let c = case(json!({"consent_status": "1", "consent_scope": scope}));
            assert!(consent_covers(&c, NONE), "{scope}");
            assert!(!consent_covers(&c, GENOME), "{scope}");
        }
        assert!(consent_covers(&case(json!({"consent_status": "1"})), NONE));
        assert!(!consent_covers(
            &case(json!({"consent_status": "1"})),
            GENOME
        ));
        // A scope that is not a list of uses covers nothing.
        let odd = case(json!({"consent_status": "1", "consent_scope": "secondary_use"}));
        assert!(!consent_covers(&odd, NONE));
        // The status as a number, as an answer object.
        let numeric = case(json!({"consent_status": 1, "consent_scope": ["secondary_use"]}));
        assert!(consent_covers(&numeric, NONE));
        let wrapped = case(
            json!({"consent_status": {"value": "1"}, "consent_scope": {"value": ["secondary_use"]}}),
        );
        assert!(consent_covers(&wrapped, NONE));
    }

    #[test]
    fn a_withdrawn_consent_covers_nothing() {
        for withdrawn in [json!(true), json!("true"), json!(1), json!({"value": true})] {
            let c = case(json!({
                "consent_status": "1",
                "consent_scope": ["secondary_use", "genome"],
                "consent_withdrawn": withdrawn,
                "consent_withdrawal_date": "2026-03-14"
            }));
            assert!(!consent_covers(&c, NONE), "{withdrawn}");
            assert!(!consent_covers(&c, GENOME), "{withdrawn}");
        }
        // With a waiver too.
        let c = case(json!({"consent_status": "2", "consent_withdrawn": true}));
        assert!(!consent_covers(&c, NONE));
        // Not withdrawn: false or no answer.
        for withdrawn in [json!(false), json!(null)] {
            let c = case(json!({
                "consent_status": "1",
                "consent_scope": ["secondary_use"],
                "consent_withdrawn": withdrawn
            }));
            assert!(consent_covers(&c, NONE), "{withdrawn}");
        }
    }

    #[test]
    fn a_waiver_covers_secondary_use_only() {
        let waiver = case(json!({"consent_status": "2"}));
        assert!(consent_covers(&waiver, NONE));
        assert!(consent_covers(&waiver, &[Purpose::SecondaryUse]));
        for p in [Purpose::Genome, Purpose::Companies, Purpose::JpDeTransfer] {
            assert!(!consent_covers(&waiver, &[p]), "{p:?}");
            assert!(
                !consent_covers(&waiver, &[Purpose::SecondaryUse, p]),
                "{p:?}"
            );
        }
        // A scope ticked despite the waiver (a value left in a hidden field) changes nothing.
        let ticked =
            case(json!({"consent_status": "2", "consent_scope": ["secondary_use", "genome"]}));
        assert!(!consent_covers(&ticked, GENOME));
    }

    #[test]
    fn no_consent_unknown_or_no_answer_covers_nothing() {
        for status in [
            json!("0"),
            json!("99"),
            json!(""),
            json!(null),
            json!("yes"),
            json!(true),
        ] {
            let c = case(json!({
                "consent_status": status,
                "consent_scope": ["secondary_use", "genome", "companies", "jp_de_transfer"]
            }));
            assert!(!consent_covers(&c, NONE), "{status}");
        }
        assert!(!consent_covers(&Map::new(), NONE));
    }

    #[test]
    fn purposes_are_read_from_a_list_of_codes() {
        assert_eq!(Purpose::parse_list(""), Ok(vec![]));
        assert_eq!(
            Purpose::parse_list("jp_de_transfer, genome,,genome"),
            Ok(vec![Purpose::Genome, Purpose::JpDeTransfer])
        );
        assert_eq!(
            Purpose::parse_list("secondary_use"),
            Ok(vec![Purpose::SecondaryUse])
        );
        let e = Purpose::parse_list("genome,marketing").unwrap_err();
        assert!(
            e.contains("'marketing'") && e.contains("jp_de_transfer"),
            "{e}"
        );
        for p in Purpose::ALL {
            assert_eq!(Purpose::parse(p.code()), Some(p));
        }
    }
}

//! Tests of the ODM export's XML escaping, number formatting and code aliases.

use super::metadata::{aliases, number};
use super::xml::{Xml, escape};
use wardcrf_core::Codes;

#[test]
fn text_and_attributes_are_escaped_and_invalid_characters_replaced() {
    assert_eq!(escape("a & b", false), "a &amp; b");
    assert_eq!(escape("<x y=\"1\">", true), "&lt;x y=&quot;1&quot;&gt;");
    assert_eq!(escape("<x y=\"1\">", false), "&lt;x y=\"1\"&gt;");
    assert_eq!(escape("a\tb\nc\rd", true), "a&#9;b&#10;c&#13;d");
    assert_eq!(escape("a\tb\nc\rd", false), "a\tb\nc&#13;d");
    assert_eq!(
        escape("bell\u{7}nul\u{0}", false),
        "bell\u{FFFD}nul\u{FFFD}"
    );
    assert_eq!(escape("山田 太郎", true), "山田 太郎");
}

#[test]
fn limits_print_without_a_needless_fraction() {
    assert_eq!(number(30.0), "30");
    assert_eq!(number(35.5), "35.5");
    assert_eq!(number(-2.0), "-2");
}

#[test]
fn every_standard_code_is_an_alias_in_the_order_of_the_systems_then_cdash() {
    let codes = Codes {
        loinc: Some("8310-5".into()),
        cdash: Some("VSORRES".into()),
        snomed: Some("386661006".into()),
        icd10: Some("R50.9".into()),
        icd10gm: Some("R50.9".into()),
        atc: Some("J05AB16".into()),
    };
    let mut x = Xml::new(Vec::new(), 0);
    aliases(&mut x, &codes).unwrap();
    let text = String::from_utf8(x.into_inner()).unwrap();
    let found: Vec<&str> = text.lines().map(str::trim).collect();
    assert_eq!(
        found,
        [
            r#"<Alias Context="LOINC" Name="8310-5"/>"#,
            r#"<Alias Context="SNOMED-CT" Name="386661006"/>"#,
            r#"<Alias Context="ICD-10" Name="R50.9"/>"#,
            r#"<Alias Context="ICD-10-GM" Name="R50.9"/>"#,
            r#"<Alias Context="ATC" Name="J05AB16"/>"#,
            r#"<Alias Context="CDASH" Name="VSORRES"/>"#,
        ]
    );
    let mut x = Xml::new(Vec::new(), 0);
    aliases(&mut x, &Codes::default()).unwrap();
    assert!(x.into_inner().is_empty());
}

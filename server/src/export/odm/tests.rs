//! Tests of the ODM export's XML escaping and number formatting.

use super::metadata::number;
use super::xml::escape;

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

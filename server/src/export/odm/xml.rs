//! A small streaming XML writer (elements, attributes, escaping) for the ODM document.

use crate::export::ExportError;
use std::io::Write;

/// A small streaming XML writer: every text and attribute value is escaped, characters XML
/// 1.0 cannot hold are replaced by U+FFFD, and elements are indented.
pub(super) struct Xml<W: Write> {
    out: W,
    open: Vec<String>,
    /// Indentation of the outermost element written (ClinicalData sits inside ODM).
    base: usize,
}

impl<W: Write> Xml<W> {
    pub(super) fn new(out: W, base: usize) -> Xml<W> {
        Xml {
            out,
            open: Vec::new(),
            base,
        }
    }

    fn indent(&mut self) -> std::io::Result<()> {
        for _ in 0..self.base + self.open.len() {
            self.out.write_all(b"  ")?;
        }
        Ok(())
    }

    fn start_tag(&mut self, name: &str, attrs: &[(&str, &str)]) -> std::io::Result<()> {
        self.indent()?;
        write!(self.out, "<{name}")?;
        for (k, v) in attrs {
            write!(self.out, " {k}=\"{}\"", escape(v, true))?;
        }
        Ok(())
    }

    pub(super) fn open(&mut self, name: &str, attrs: &[(&str, &str)]) -> Result<(), ExportError> {
        self.start_tag(name, attrs)?;
        self.out.write_all(b">\n")?;
        self.open.push(name.to_string());
        Ok(())
    }

    pub(super) fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) -> Result<(), ExportError> {
        self.start_tag(name, attrs)?;
        self.out.write_all(b"/>\n")?;
        Ok(())
    }

    pub(super) fn text_element(
        &mut self,
        name: &str,
        attrs: &[(&str, &str)],
        text: &str,
    ) -> Result<(), ExportError> {
        self.start_tag(name, attrs)?;
        writeln!(self.out, ">{}</{name}>", escape(text, false))?;
        Ok(())
    }

    pub(super) fn close(&mut self) -> Result<(), ExportError> {
        if let Some(name) = self.open.pop() {
            self.indent()?;
            writeln!(self.out, "</{name}>")?;
        }
        Ok(())
    }

    pub(super) fn raw(&mut self, s: &str) -> Result<(), ExportError> {
        Ok(self.out.write_all(s.as_bytes())?)
    }

    pub(super) fn copy_from(&mut self, r: &mut impl std::io::Read) -> Result<(), ExportError> {
        std::io::copy(r, &mut self.out)?;
        Ok(())
    }

    pub(super) fn into_inner(self) -> W {
        self.out
    }

    pub(super) fn finish(mut self) -> Result<W, ExportError> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Escapes text (`&`, `<`, `>`) or an attribute value (also `"`, and tab, line feed and
/// carriage return as character references, which attribute normalisation would otherwise
/// turn into spaces); characters XML 1.0 does not allow become U+FFFD.
pub(super) fn escape(s: &str, attribute: bool) -> std::borrow::Cow<'_, str> {
    let needs = |c: char| {
        matches!(c, '&' | '<' | '>' | '"')
            || (c as u32) < 0x20
            || c == '\u{FFFE}'
            || c == '\u{FFFF}'
    };
    if !s.chars().any(needs) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' | '"' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

//! HTML building blocks: escaping, the page frame (header, navigation, language switch,
//! sign-out) and small formatting helpers. Pages are plain server-rendered HTML; the only
//! stylesheet is `/assets/console.css`, served by the server itself.

use super::Staff;
use super::i18n::{M, lang_name};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::fmt::Write;
use wardcrf_core::Lang;

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query or path component.
pub fn url(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A column of a table's head: its heading, as text or as numbers (right-aligned).
#[derive(Debug, Clone, Copy)]
pub enum Col<'a> {
    Text(&'a str),
    Num(&'a str),
}

/// The start of a table that scrolls sideways on a narrow screen: its caption when given,
/// the head row of `columns`, and the opening `<tbody>` (closed by [`TABLE_END`]).
pub fn table_start(caption: Option<&str>, columns: &[Col]) -> String {
    let mut s = String::from("<div class=\"scroll\" tabindex=\"0\"><table>");
    if let Some(caption) = caption {
        let _ = write!(s, "<caption>{caption}</caption>");
    }
    s.push_str("<thead><tr>");
    for col in columns {
        let _ = match col {
            Col::Text(h) => write!(s, "<th scope=\"col\">{h}</th>"),
            Col::Num(h) => write!(s, "<th scope=\"col\" class=\"num\">{h}</th>"),
        };
    }
    s.push_str("</tr></thead><tbody>");
    s
}

/// The end of a table begun by [`table_start`].
pub const TABLE_END: &str = "</tbody></table></div>";

/// A page: its title, main content and the status to answer with.
#[derive(Debug)]
pub struct Page {
    pub title: String,
    pub body: String,
    pub status: StatusCode,
}

impl Page {
    pub fn new(title: impl Into<String>, body: String) -> Page {
        Page {
            title: title.into(),
            body,
            status: StatusCode::OK,
        }
    }

    pub fn with_status(mut self, status: StatusCode) -> Page {
        self.status = status;
        self
    }

    /// The whole document in `lang`, with the navigation of `staff` (none on the sign-in
    /// page); `path` is where the language links come back to.
    pub fn render(self, lang: Lang, staff: Option<&Staff>, path: &str) -> Response {
        let mut h = String::with_capacity(self.body.len() + 4096);
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"{code}\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title} · {app}</title>\
             <link rel=\"stylesheet\" href=\"/assets/console.css\"></head><body>\
             <a class=\"skip\" href=\"#main\">{skip}</a>\
             <header class=\"top\"><span class=\"brand\">{app}</span>",
            code = lang.code(),
            title = esc(&self.title),
            app = M::AppName.get(lang),
            skip = M::SkipToContent.get(lang),
        );
        if let Some(staff) = staff {
            nav(&mut h, lang, staff);
        }
        let _ = write!(
            h,
            "<nav class=\"langs\" aria-label=\"{}\"><ul>",
            M::Language.get(lang)
        );
        for l in Lang::ALL {
            let current = if l == lang {
                " aria-current=\"true\""
            } else {
                ""
            };
            let _ = write!(
                h,
                "<li><a href=\"/lang?to={c}&amp;back={back}\" lang=\"{c}\"{current}>{name}</a></li>",
                c = l.code(),
                back = url(path),
                name = lang_name(l)
            );
        }
        h.push_str("</ul></nav>");
        if let Some(staff) = staff {
            let _ = write!(
                h,
                "<form class=\"signout\" method=\"post\" action=\"/logout\">{csrf}\
                 <span>{signed} <strong>{user}</strong> ({role})</span> \
                 <button type=\"submit\">{out}</button></form>",
                csrf = csrf_field(&staff.csrf),
                signed = M::SignedInAs.get(lang),
                user = esc(&staff.username),
                role = staff.role.label(lang),
                out = M::SignOut.get(lang),
            );
        }
        let _ = write!(
            h,
            "</header><main id=\"main\" tabindex=\"-1\"><h1>{}</h1>{}</main></body></html>",
            esc(&self.title),
            self.body
        );
        let mut response = (self.status, h).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        security_headers(headers);
        response
    }
}

/// Headers every console answer carries: no framing, no sniffing, nothing from elsewhere, not
/// cached (pages hold patient data).
pub fn security_headers(headers: &mut axum::http::HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn nav(h: &mut String, lang: Lang, staff: &Staff) {
    let _ = write!(
        h,
        "<nav class=\"main\" aria-label=\"{}\"><ul>",
        M::AppName.get(lang)
    );
    let mut link = |href: &str, m: M| {
        let _ = write!(h, "<li><a href=\"{href}\">{}</a></li>", m.get(lang));
    };
    link("/", M::Overview);
    link("/cases", M::Cases);
    link("/cases?conflicts=true", M::Conflicts);
    if staff.role.exports() {
        link("/exports", M::Exports);
    }
    if staff.role.administers() {
        link("/admin/sites", M::Sites);
        link("/admin/staff", M::Staff);
        link("/admin/devices", M::Devices);
        link("/admin/enrolment", M::EnrolmentCodes);
    }
    h.push_str("</ul></nav>");
}

/// The hidden field carrying the session's CSRF token.
pub fn csrf_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(token)
    )
}

/// A notice above a page's content (`kind`: `ok` or `error`); errors are announced.
pub fn notice(kind: &str, text: &str) -> String {
    let role = if kind == "error" { "alert" } else { "status" };
    format!(
        "<p class=\"notice {kind}\" role=\"{role}\">{}</p>",
        esc(text)
    )
}

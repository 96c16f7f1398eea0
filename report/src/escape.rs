//! Text from a repository as inert HTML.
//!
//! Subjects, author names, paths, tags and branch names are written by whoever wrote the
//! history, so they are hostile: markup must show as text, and characters that change how the
//! text around them reads — right-to-left overrides and isolates, zero-width characters, other
//! controls — must be seen rather than obeyed. [`Text`] escapes `& < > " '` and shows each such
//! character as a visible `⟨U+202E⟩`; where repository text stands inline, the page also wraps
//! it in `<bdi>` so its direction cannot leak into the sentence around it.
//!
//! [`json_script`] embeds data for the page's script in a `<script type="application/json">`
//! block that no string in the data can close.

use std::fmt::Write as _;

use maud::{Markup, PreEscaped, Render};
use serde::Serialize;

/// True for characters shown as `⟨U+XXXX⟩` instead of being written: C0 and C1 controls
/// (line breaks too: repository text here is one line), bidirectional formatting
/// (embeddings, overrides, isolates, marks), zero-width characters, line and paragraph
/// separators, invisible operators and tag characters.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{E0000}'..='\u{E007F}'
        )
}

/// Appends `text` to `out` as HTML text (safe in element content and in quoted attributes).
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if is_hidden(c) => {
                write!(out, "⟨U+{:04X}⟩", u32::from(c)).expect("writing to a String cannot fail");
            }
            c => out.push(c),
        }
    }
}

/// `text` as HTML text.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    escape_into(&mut out, text);
    out
}

/// Repository text for a template: escaped as [`escape`] does.
#[derive(Clone, Copy, Debug)]
pub struct Text<'a>(pub &'a str);

impl Render for Text<'_> {
    fn render_to(&self, buffer: &mut String) {
        escape_into(buffer, self.0);
    }
}

/// Repository text standing inline: escaped, and isolated in `<bdi>` so that text written
/// right to left keeps to itself.
#[derive(Clone, Copy, Debug)]
pub struct Inline<'a>(pub &'a str);

impl Render for Inline<'_> {
    fn render_to(&self, buffer: &mut String) {
        buffer.push_str("<bdi>");
        escape_into(buffer, self.0);
        buffer.push_str("</bdi>");
    }
}

/// An identifier for an `id` attribute or a fragment: ASCII letters, digits and `-` kept,
/// anything else as `_`, so a section id from data can never break out of the attribute or
/// collide with markup.
pub fn fragment(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `value` as JSON inside `<script type="application/json" id="…">`: `<`, `>` and `&` are
/// written as `\u003c`, `\u003e` and `\u0026` (the same JSON, but `</script>` and `<!--` cannot
/// appear), and the characters [`is_hidden`] names (direction overrides, U+2028, …) as
/// escapes too, so none of them is in the page's bytes.
pub fn json_script<T: Serialize>(id: &str, value: &T) -> Markup {
    let json = serde_json::to_string(value).expect("report data always serializes");
    script_block(id, &json_for_script(&json))
}

/// JSON already made safe by [`json_for_script`] inside `<script type="application/json"
/// id="…">`: for JSON a caller also needs on its own, serialized once.
pub fn script_block(id: &str, safe_json: &str) -> Markup {
    let mut out = String::with_capacity(safe_json.len() + 64);
    out.push_str("<script type=\"application/json\" id=\"");
    out.push_str(&fragment(id));
    out.push_str("\">");
    out.push_str(safe_json);
    out.push_str("</script>");
    PreEscaped(out)
}

/// JSON text made safe to stand between `<script>` tags (see [`json_script`]).
pub fn json_for_script(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            c if is_hidden(c) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(out, "\\u{unit:04x}").expect("writing to a String cannot fail");
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_text() {
        assert_eq!(
            escape("\"><img src=x onerror=alert(1)>"),
            "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(
            escape("<script>alert('x')</script>"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
        );
        assert_eq!(escape("a & b"), "a &amp; b");
    }

    #[test]
    fn direction_and_invisible_characters_are_shown() {
        assert_eq!(escape("abc\u{202E}fed"), "abc⟨U+202E⟩fed");
        assert_eq!(
            escape("a\u{200B}b\u{2066}c\u{FEFF}"),
            "a⟨U+200B⟩b⟨U+2066⟩c⟨U+FEFF⟩"
        );
        assert_eq!(escape("line\nbreak\u{0}"), "line⟨U+000A⟩break⟨U+0000⟩");
        assert_eq!(escape("tag\u{E0041}"), "tag⟨U+E0041⟩");
        // Ordinary non-Latin text is written as it is.
        assert_eq!(escape("Zoë שלום 日本"), "Zoë שלום 日本");
    }

    #[test]
    fn inline_text_is_isolated() {
        assert_eq!(
            maud::html! { (Inline("\u{202E}x<")) }.into_string(),
            "<bdi>⟨U+202E⟩x&lt;</bdi>"
        );
    }

    #[test]
    fn fragments_keep_to_safe_characters() {
        assert_eq!(fragment("phase-3"), "phase-3");
        assert_eq!(fragment("a\"><b c"), "a___b_c");
    }

    #[test]
    fn json_data_cannot_close_its_script() {
        let data = serde_json::json!({"s": "</script><script>alert(1)</script><!-- \u{2028}&\u{202E}\u{E0041}"});
        let block = json_script("data", &data).into_string();
        let inner = block
            .strip_prefix("<script type=\"application/json\" id=\"data\">")
            .and_then(|rest| rest.strip_suffix("</script>"))
            .expect("one block");
        assert!(!inner.contains('<') && !inner.contains('>') && !inner.contains('&'));
        assert!(!inner.contains(is_hidden));
        assert!(inner.contains("\\u202e\\udb40\\udc41"));
        // And it is still the same JSON.
        let back: serde_json::Value = serde_json::from_str(inner).unwrap();
        assert_eq!(back, data);
    }
}

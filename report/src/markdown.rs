//! The story's sentences (`story.json` claims) as HTML.
//!
//! A claim's text is the Markdown `story.md` shows: generated prose with `**strong**` and
//! `*emphasis*`, code spans for paths, names and commit ids, and repository text escaped by
//! `gitview_core::story::escape_markdown` (`&lt;`, `\[`, …). This is not a Markdown renderer:
//! it knows exactly those forms, and everything else is text. Every character that reaches the
//! page goes through [`escape_into`], so no sentence, whatever it quotes, can make markup.
//!
//! A code span that names a commit (7 to 40 hex digits, the prefix of one commit the caller
//! knows) becomes a link to that commit's entry on the page.

use crate::escape::escape_into;

/// Resolves a commit id as a sentence writes it to the page fragment of its entry, if the
/// page has one.
pub trait CommitLinks {
    fn link(&self, short: &str) -> Option<String>;
}

/// True when `text` has several lines (a phase's summary: paragraphs and lists), which
/// [`to_html`] writes as blocks rather than inline.
pub fn is_block(text: &str) -> bool {
    text.trim_end().contains('\n')
}

/// The HTML of `text`, linking commit ids through `links`: inline for one line; for several
/// ([`is_block`]), paragraphs, `-`/`*` lists and `#` headings (shown as strong paragraphs).
pub fn to_html(text: &str, links: &dyn CommitLinks) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    if !is_block(text) {
        render(text, &mut out, Some(links));
        return out;
    }
    let mut in_list = false;
    for line in text.lines().map(str::trim) {
        let item = line.strip_prefix("- ").or_else(|| line.strip_prefix("* "));
        if in_list && item.is_none() {
            out.push_str("</ul>");
            in_list = false;
        }
        if let Some(item) = item {
            if !in_list {
                out.push_str("<ul>");
                in_list = true;
            }
            out.push_str("<li>");
            render(item, &mut out, Some(links));
            out.push_str("</li>");
        } else if let Some(heading) = heading(line) {
            out.push_str("<p><strong>");
            render(heading, &mut out, Some(links));
            out.push_str("</strong></p>");
        } else if !line.is_empty() {
            out.push_str("<p>");
            render(line, &mut out, Some(links));
            out.push_str("</p>");
        }
    }
    if in_list {
        out.push_str("</ul>");
    }
    out
}

/// The text of an ATX heading line (`## Text`).
fn heading(line: &str) -> Option<&str> {
    let text = line.trim_start_matches('#');
    let level = line.len() - text.len();
    ((1..=6).contains(&level) && text.starts_with(' ')).then(|| text.trim())
}

/// `text` without its markup: what a `<title>` or a tooltip shows. Still escaped for HTML.
pub fn to_plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    render(text, &mut out, None);
    out
}

/// `text` without its markup and unescaped: what a script sets as an element's text. Hidden
/// characters stay shown as `⟨U+XXXX⟩`, as [`to_plain`] shows them.
pub fn to_text(text: &str) -> String {
    to_plain(text)
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The literal character a backslash escapes, or an entity stands for.
fn literal_at(chars: &[char], i: usize) -> Option<(char, usize)> {
    match chars[i] {
        '\\' => chars
            .get(i + 1)
            .filter(|c| c.is_ascii_punctuation())
            .map(|&c| (c, 2)),
        '&' => {
            let rest: String = chars[i..chars.len().min(i + 6)].iter().collect();
            [
                ("&lt;", '<'),
                ("&gt;", '>'),
                ("&amp;", '&'),
                ("&quot;", '"'),
            ]
            .into_iter()
            .find(|(entity, _)| rest.starts_with(entity))
            .map(|(entity, c)| (c, entity.len()))
        }
        _ => None,
    }
}

/// Where the run of `run` backticks that closes a code span opened before `from` starts.
fn closing_ticks(chars: &[char], from: usize, run: usize) -> Option<usize> {
    let mut i = from;
    while i < chars.len() {
        if chars[i] == '`' {
            let start = i;
            while i < chars.len() && chars[i] == '`' {
                i += 1;
            }
            if i - start == run {
                return Some(start);
            }
        } else {
            i += 1;
        }
    }
    None
}

/// Where the next unescaped `marker` (`**` or `*`) starts at or after `from`.
fn closing_marker(chars: &[char], from: usize, marker: &[char]) -> Option<usize> {
    let mut i = from;
    while i + marker.len() <= chars.len() {
        if chars[i] == '\\' {
            i += 2;
            continue;
        }
        if chars[i] == '`' {
            // A code span holds no markers: skip it whole.
            let mut run = 0;
            while chars.get(i + run) == Some(&'`') {
                run += 1;
            }
            i = closing_ticks(chars, i + run, run).map_or(i + run, |end| end + run);
            continue;
        }
        if chars[i..i + marker.len()] == *marker
            && (marker.len() == 2 || chars.get(i + 1) != Some(&'*'))
        {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn render(text: &str, out: &mut String, links: Option<&dyn CommitLinks>) {
    let chars: Vec<char> = text.chars().collect();
    let mut open: Vec<&'static str> = Vec::new();
    let mut i = 0;
    let mut buf = [0u8; 4];
    while i < chars.len() {
        if let Some((c, len)) = literal_at(&chars, i) {
            escape_into(out, c.encode_utf8(&mut buf));
            i += len;
            continue;
        }
        match chars[i] {
            '`' => {
                let mut run = 0;
                while chars.get(i + run) == Some(&'`') {
                    run += 1;
                }
                if let Some(end) = closing_ticks(&chars, i + run, run) {
                    let code: String = chars[i + run..end].iter().collect();
                    let code = strip_one_space(&code);
                    code_span(out, code, links);
                    i = end + run;
                } else {
                    for _ in 0..run {
                        out.push('`');
                    }
                    i += run;
                }
            }
            '*' => {
                let strong = chars.get(i + 1) == Some(&'*');
                let (tag, marker): (&'static str, &[char]) = if strong {
                    ("strong", &['*', '*'])
                } else {
                    ("em", &['*'])
                };
                if open.last() == Some(&tag) {
                    open.pop();
                    if links.is_some() {
                        out.push_str("</");
                        out.push_str(tag);
                        out.push('>');
                    }
                } else if !open.contains(&tag)
                    && chars
                        .get(i + marker.len())
                        .is_some_and(|c| !c.is_whitespace())
                    && closing_marker(&chars, i + marker.len(), marker)
                        .is_some_and(|end| end > i + marker.len())
                {
                    open.push(tag);
                    if links.is_some() {
                        out.push('<');
                        out.push_str(tag);
                        out.push('>');
                    }
                } else {
                    out.push_str(if strong { "**" } else { "*" });
                }
                i += marker.len();
            }
            c => {
                escape_into(out, c.encode_utf8(&mut buf));
                i += 1;
            }
        }
    }
    if links.is_some() {
        while let Some(tag) = open.pop() {
            out.push_str("</");
            out.push_str(tag);
            out.push('>');
        }
    }
}

/// CommonMark strips one space from each end of a code span that has text besides spaces.
fn strip_one_space(code: &str) -> &str {
    if code.len() >= 2 && code.starts_with(' ') && code.ends_with(' ') && code.trim() != "" {
        &code[1..code.len() - 1]
    } else {
        code
    }
}

fn code_span(out: &mut String, code: &str, links: Option<&dyn CommitLinks>) {
    let Some(links) = links else {
        escape_into(out, code);
        return;
    };
    let is_id = (7..=40).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_hexdigit());
    let target = if is_id { links.link(code) } else { None };
    if let Some(target) = target {
        out.push_str("<a class=\"cid\" href=\"#");
        escape_into(out, &target);
        out.push_str("\"><code>");
        escape_into(out, code);
        out.push_str("</code></a>");
    } else {
        out.push_str("<code>");
        escape_into(out, code);
        out.push_str("</code>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Known(&'static [&'static str]);

    impl CommitLinks for Known {
        fn link(&self, short: &str) -> Option<String> {
            let mut found = self.0.iter().filter(|id| id.starts_with(short));
            match (found.next(), found.next()) {
                (Some(id), None) => Some(format!("c-{id}")),
                _ => None,
            }
        }
    }

    const IDS: Known = Known(&[
        "1830ec4cb2cf0000000000000000000000000000",
        "5edb8383ec610000000000000000000000000000",
    ]);

    #[test]
    fn prose_forms_become_markup() {
        assert_eq!(
            to_html("**2023-11-15** — First commit, by *Ada*: `src/a.rs`", &IDS),
            "<strong>2023-11-15</strong> — First commit, by <em>Ada</em>: <code>src/a.rs</code>"
        );
    }

    #[test]
    fn commit_ids_link_to_their_entries_when_the_page_has_them() {
        assert_eq!(
            to_html("(`1830ec4`) and (`abcdef1`)", &IDS),
            "(<a class=\"cid\" href=\"#c-1830ec4cb2cf0000000000000000000000000000\"><code>1830ec4</code></a>) and (<code>abcdef1</code>)"
        );
    }

    #[test]
    fn escaped_repository_text_stays_text() {
        let subject = gitview_core::story::escape_markdown(
            "\"><img src=x onerror=alert(1)> **bold** [x](javascript:alert(1)) `c` <script>",
        );
        let html = to_html(&format!("“{subject}”"), &IDS);
        assert_eq!(
            html,
            "“&quot;&gt;&lt;img src=x onerror=alert(1)&gt; **bold** [x](javascript:alert(1)) `c` &lt;script&gt;”"
        );
    }

    #[test]
    fn code_spans_hold_raw_text_escaped() {
        assert_eq!(
            to_html("`<script>alert(1)</script>` and `a\u{202E}b`", &IDS),
            "<code>&lt;script&gt;alert(1)&lt;/script&gt;</code> and <code>a⟨U+202E⟩b</code>"
        );
    }

    #[test]
    fn emphasis_may_hold_a_code_span() {
        assert_eq!(
            to_html("**`history`** — and *`a*b`* too", &IDS),
            "<strong><code>history</code></strong> — and <em><code>a*b</code></em> too"
        );
    }

    #[test]
    fn several_lines_are_paragraphs_and_lists() {
        let text = "Intro `1830ec4`.\n\n- **Themes:** one\n* two &lt;b&gt;\n## Next\nlast";
        assert!(is_block(text) && !is_block("one line\n"));
        assert_eq!(
            to_html(text, &IDS),
            "<p>Intro <a class=\"cid\" href=\"#c-1830ec4cb2cf0000000000000000000000000000\"><code>1830ec4</code></a>.</p>\
             <ul><li><strong>Themes:</strong> one</li><li>two &lt;b&gt;</li></ul>\
             <p><strong>Next</strong></p><p>last</p>"
        );
    }

    #[test]
    fn unbalanced_markers_are_text() {
        assert_eq!(to_html("a * b and ** c `d", &IDS), "a * b and ** c `d");
        assert_eq!(to_html("**open", &IDS), "**open");
    }

    #[test]
    fn plain_text_drops_the_markup() {
        assert_eq!(
            to_plain("Release v1 (`1830ec4`) by **Ada** &lt;x&gt;"),
            "Release v1 (1830ec4) by Ada &lt;x&gt;"
        );
        assert_eq!(
            to_text("`<b>` by **Ada** &lt;x&gt; &amp;lt; \u{202E}"),
            "<b> by Ada <x> &lt; ⟨U+202E⟩"
        );
    }
}

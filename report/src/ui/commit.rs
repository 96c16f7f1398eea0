//! The gateway's pages of a repository's history: one commit with its files, one path's
//! history, and a search of the commits (with the search form a repository's page carries).
//! Every string from the repository — messages, names, paths, references — is escaped and
//! shown, never obeyed ([`Text`], [`Inline`]); links into the gateway percent-encode what they
//! carry ([`encode`]).

use gitview_core::results::{FileHistory, RepositoryRef, SliceCommit};
use maud::{Markup, html};

use super::{UiPage, layout, policy, short};
use crate::escape::{Inline, Text};

/// One commit as its page shows it (scrubbed by the gateway as the account's policy says).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitView {
    pub id: String,
    pub parents: Vec<String>,
    pub author_name: String,
    pub author_email: String,
    /// RFC 3339, UTC.
    pub authored_at: Option<String>,
    pub committed_at: Option<String>,
    pub class: String,
    /// The whole message: the subject is its first line.
    pub message: String,
    /// Ticket, issue and pull-request references, as written (`#12`, `ABC-3`).
    pub references: Vec<String>,
    pub phase: Option<PhaseRef>,
    pub files: Vec<FileChange>,
    pub lines_added: u64,
    pub lines_deleted: u64,
}

/// The phase of the story a commit falls in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PhaseRef {
    /// 1-based.
    pub number: u64,
    pub name: String,
    /// Its first and last commits' author times.
    pub start: String,
    pub end: String,
}

/// A file a commit changed: its lines added and deleted (none for a binary file) and its
/// status (`A`, `D`, `M`, `T`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileChange {
    pub path: String,
    pub added: Option<u64>,
    pub deleted: Option<u64>,
    pub status: String,
}

/// A search and a page of what it found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchView {
    /// Words in the message.
    pub text: String,
    /// Part of the author's name (or their email).
    pub author: String,
    /// The start of a path the commits touched.
    pub path: String,
    pub commits: Vec<SliceCommit>,
    /// The next page's cursor, if there is one.
    pub next_cursor: Option<String>,
}

impl SearchView {
    fn is_empty(&self) -> bool {
        self.text.is_empty() && self.author.is_empty() && self.path.is_empty()
    }
}

/// `text` percent-encoded for a URL's path or query: ASCII letters, digits and `-._~` kept,
/// `/` too when `slashes` (a path's separators), every other byte as `%XX`.
pub fn encode(text: &str, slashes: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~')
            || (slashes && byte == b'/')
        {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn repository_href(repository: &RepositoryRef) -> String {
    format!("/ui/repositories/{}", repository.fingerprint)
}

/// The page of commit `id` of the repository.
pub fn commit_href(fingerprint: &str, id: &str) -> String {
    format!(
        "/ui/repositories/{fingerprint}/commits/{}",
        encode(id, false)
    )
}

/// The history page of `path` in the repository.
pub fn file_href(fingerprint: &str, path: &str) -> String {
    format!(
        "/ui/repositories/{fingerprint}/files/{}",
        encode(path, true)
    )
}

/// The breadcrumb from the repositories to `here` through the repository.
fn crumbs(repository: &RepositoryRef, here: Markup) -> Markup {
    html! {
        nav aria-label="Breadcrumb" {
            a href="/ui/" { "Repositories" } " / "
            a href=(repository_href(repository)) { (Inline(&repository.url)) " (" (Inline(&repository.branch)) ")" }
            " / " (here)
        }
    }
}

/// The search form (on a repository's page and the search page), filled with `view`'s values.
pub fn search_form(fingerprint: &str, view: Option<&SearchView>) -> Markup {
    let value = |pick: fn(&SearchView) -> &str| view.map(pick).unwrap_or_default().to_owned();
    html! {
        form.search role="search" method="get" action={ "/ui/repositories/" (fingerprint) "/search" } {
            label for="search-q" { "Message" }
            input #search-q type="search" name="q" value=(value(|v| &v.text)) placeholder="words in the message";
            label for="search-author" { "Author" }
            input #search-author type="search" name="author" value=(value(|v| &v.author)) placeholder="name or email";
            label for="search-path" { "Path" }
            input #search-path type="search" name="path" value=(value(|v| &v.path)) placeholder="src/";
            button type="submit" { "Search" }
        }
    }
}

/// Lines added and deleted, `+a −d` (`binary` when neither is known).
fn churn(added: Option<u64>, deleted: Option<u64>) -> Markup {
    html! {
        @if added.is_none() && deleted.is_none() {
            span.muted { "binary" }
        } @else {
            span.added { "+" (added.unwrap_or(0)) } " " span.deleted { "−" (deleted.unwrap_or(0)) }
        }
    }
}

/// A table of commits, newest first, each linked to its page.
fn commit_table(fingerprint: &str, caption: Markup, commits: &[SliceCommit]) -> Markup {
    html! {
        table.commits {
            caption { (caption) }
            thead { tr {
                th scope="col" { "Date" } th scope="col" { "Commit" } th scope="col" { "Subject" }
                th scope="col" { "Author" } th scope="col" { "Class" } th scope="col" { "Lines" }
            } }
            tbody {
                @for commit in commits {
                    tr {
                        td { @if let Some(at) = &commit.committed_at { time datetime=(at) { (Text(at.get(..10).unwrap_or(at))) } } @else { "—" } }
                        td { a href=(commit_href(fingerprint, &commit.id)) { code { (Text(short(&commit.id))) } } }
                        th scope="row" { (Inline(&commit.subject)) }
                        td { (Inline(&commit.author_name)) }
                        td { (Text(&commit.class)) }
                        td { (churn(Some(commit.lines_added), Some(commit.lines_deleted))) }
                    }
                }
            }
        }
    }
}

/// The message: the subject as the heading, the body line by line (tabs as spaces; other
/// controls shown, not obeyed).
fn message(text: &str) -> Markup {
    let mut lines = text.lines();
    let subject = lines.next().unwrap_or_default();
    let body: Vec<String> = lines.map(|line| line.replace('\t', "    ")).collect();
    let body = body
        .iter()
        .map(String::as_str)
        .skip_while(|line| line.trim().is_empty())
        .collect::<Vec<_>>();
    let end = body
        .iter()
        .rposition(|line| !line.trim().is_empty())
        .map_or(0, |last| last + 1);
    html! {
        h1.subject { (Inline(subject)) }
        @if end > 0 {
            pre.message { @for (i, line) in body[..end].iter().enumerate() { @if i > 0 { "\n" } (Text(line)) } }
        }
    }
}

/// A commit's page: message, author, dates, class, references, phase, parents and files,
/// each file linked to its history.
pub fn commit(account: &str, repository: &RepositoryRef, commit: &CommitView) -> UiPage {
    let fingerprint = &repository.fingerprint;
    let body = html! {
        (crumbs(repository, html! { "commit " code { (Text(short(&commit.id))) } }))
        (message(&commit.message))
        dl.facts {
            dt { "Commit" } dd { code { (Text(&commit.id)) } }
            dt { "Author" } dd { (Inline(&commit.author_name)) " " span.muted { "<" (Text(&commit.author_email)) ">" } }
            dt { "Authored" } dd { @if let Some(at) = &commit.authored_at { time datetime=(at) { (Text(at)) } } @else { "—" } }
            dt { "Committed" } dd { @if let Some(at) = &commit.committed_at { time datetime=(at) { (Text(at)) } } @else { "—" } }
            dt { "Class" } dd { (Text(&commit.class)) }
            dt { "References" } dd {
                @if commit.references.is_empty() { "none" }
                @for (i, reference) in commit.references.iter().enumerate() { @if i > 0 { ", " } code { (Text(reference)) } }
            }
            dt { "Phase" } dd {
                @if let Some(phase) = &commit.phase {
                    "Phase " (phase.number) ": " (Inline(&phase.name))
                    @if !phase.start.is_empty() { " " span.muted { "(" (Text(&phase.start)) " – " (Text(&phase.end)) ")" } }
                } @else { "not known" }
            }
            dt { "Parents" } dd {
                @if commit.parents.is_empty() { "none (a root commit)" }
                @for (i, parent) in commit.parents.iter().enumerate() {
                    @if i > 0 { ", " }
                    a href=(commit_href(fingerprint, parent)) { code { (Text(short(parent))) } }
                }
            }
            dt { "Lines" } dd { (churn(Some(commit.lines_added), Some(commit.lines_deleted))) }
        }
        h2 { "Files" }
        @if commit.files.is_empty() {
            p { "This commit changed no file." }
        } @else {
            table.files {
                caption { (commit.files.len()) @if commit.files.len() == 1 { " file" } @else { " files" } " — each links to its history" }
                thead { tr { th scope="col" { "Path" } th scope="col" { "Status" } th scope="col" { "Lines" } } }
                tbody {
                    @for file in &commit.files {
                        tr {
                            th scope="row" { a href=(file_href(fingerprint, &file.path)) { (Inline(&file.path)) } }
                            td { (Text(&file.status)) }
                            td { (churn(file.added, file.deleted)) }
                        }
                    }
                }
            }
        }
    };
    UiPage {
        html: layout(
            commit.message.lines().next().unwrap_or(&commit.id),
            Some(account),
            body,
        ),
        policy: policy(false),
    }
}

/// The link to the next page of a list, if there is one: `base` with `cursor` added.
fn next_page(base: &str, next_cursor: Option<&str>) -> Markup {
    html! {
        @if let Some(cursor) = next_cursor {
            nav.pages aria-label="Pages" {
                a rel="next" href={ (base) (if base.contains('?') { "&" } else { "?" }) "cursor=" (encode(cursor, false)) } { "Older commits →" }
            }
        }
    }
}

/// A path's history page: its totals, who changed it, the storylines it is in, and a page of
/// its commits, newest first.
pub fn file_history(account: &str, history: &FileHistory) -> UiPage {
    let repository = &history.repository;
    let totals = &history.totals;
    let body = html! {
        (crumbs(repository, html! { (Inline(&history.path)) }))
        h1 { "History of " code { (Inline(&history.path)) } }
        p {
            (totals.commits) @if totals.commits == 1 { " commit" } @else { " commits" }
            " by " (totals.authors) @if totals.authors == 1 { " author" } @else { " authors" } ", "
            (churn(Some(totals.lines_added), Some(totals.lines_deleted))) " lines"
            @if let (Some(first), Some(last)) = (&totals.first_commit_at, &totals.last_commit_at) {
                ", from " time datetime=(first) { (Text(first.get(..10).unwrap_or(first))) }
                " to " time datetime=(last) { (Text(last.get(..10).unwrap_or(last))) }
            }
            "."
        }
        @if !history.authors.is_empty() {
            h2 { "Who changed it" }
            ul.authors {
                @for author in &history.authors {
                    li { (Inline(author.name.as_deref().unwrap_or(&author.key))) ": " (author.commits) @if author.commits == 1 { " commit" } @else { " commits" } }
                }
            }
        }
        @if !history.storylines.is_empty() {
            h2 { "In the story" }
            ul.storylines {
                @for line in &history.storylines {
                    li { (Inline(&line.title)) " " span.muted { "(" (Text(&line.category)) ", " (line.commits) " of its commits)" } }
                }
            }
        }
        h2 { "Commits" }
        @if history.commits.is_empty() {
            p { "No stored commit touched this path." }
        } @else {
            (commit_table(&repository.fingerprint, html! { "Newest first" }, &history.commits))
        }
        (next_page(&file_href(&repository.fingerprint, &history.path), history.next_cursor.as_deref()))
    };
    UiPage {
        html: layout(&history.path, Some(account), body),
        policy: policy(false),
    }
}

/// The search page: the form, then what it found (or why nothing is shown).
pub fn search(account: &str, repository: &RepositoryRef, view: &SearchView) -> UiPage {
    let fingerprint = &repository.fingerprint;
    let base = format!(
        "/ui/repositories/{fingerprint}/search?q={}&author={}&path={}",
        encode(&view.text, false),
        encode(&view.author, false),
        encode(&view.path, false)
    );
    let body = html! {
        (crumbs(repository, html! { "search" }))
        h1 { "Search the commits" }
        (search_form(fingerprint, Some(view)))
        @if view.is_empty() {
            p.hint { "Say what to look for: words in the message, an author, or the start of a path." }
        } @else if view.commits.is_empty() {
            p.empty role="status" {
                @if view.next_cursor.is_some() { "No commit on this page matches; older commits may." }
                @else { "No commit matches this search." }
            }
        } @else {
            (commit_table(fingerprint, html! {
                (view.commits.len()) @if view.commits.len() == 1 { " matching commit" } @else { " matching commits" }
                @if view.next_cursor.is_some() { " on this page" } ", newest first"
            }, &view.commits))
        }
        (next_page(&base, view.next_cursor.as_deref()))
    };
    UiPage {
        html: layout("Search", Some(account), body),
        policy: policy(false),
    }
}

/// A page that says why the request cannot be answered (a malformed cursor or path), with the
/// status the gateway answers.
pub fn refused(account: &str, message: &str) -> UiPage {
    let body = html! {
        h1 { "Cannot show this" }
        p.error role="alert" { (Text(message)) }
        p { a href="/ui/" { "All repositories" } }
    };
    UiPage {
        html: layout("Cannot show this", Some(account), body),
        policy: policy(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "\"><img src=x onerror=alert(1)> <script>alert(1)</script>";

    fn repository() -> RepositoryRef {
        RepositoryRef {
            fingerprint: "ab".repeat(32),
            url: "https://x/<b>repo</b>".into(),
            branch: "main".into(),
            last_analyzed_commit: None,
        }
    }

    fn inert(html: &str) {
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
    }

    #[test]
    fn links_carry_paths_and_ids_percent_encoded() {
        assert_eq!(encode("src/a b#?%.rs", true), "src/a%20b%23%3F%25.rs");
        assert_eq!(encode("a/b", false), "a%2Fb");
        assert_eq!(encode("é", false), "%C3%A9");
        assert_eq!(
            file_href("f", "\"><x>/y"),
            "/ui/repositories/f/files/%22%3E%3Cx%3E/y"
        );
    }

    #[test]
    fn a_commit_shows_hostile_text_as_text_and_links_its_files() {
        let view = CommitView {
            id: "c".repeat(40),
            parents: vec!["d".repeat(40)],
            author_name: HOSTILE.into(),
            author_email: "x@scrubbed.invalid".into(),
            class: "fix".into(),
            message: format!("{HOSTILE}\n\n\tbody line\nsecond\n\n"),
            references: vec!["#12".into()],
            phase: Some(PhaseRef {
                number: 2,
                name: HOSTILE.into(),
                start: "2024-01-01".into(),
                end: "2024-02-01".into(),
            }),
            files: vec![
                FileChange {
                    path: format!("src/{HOSTILE}.rs"),
                    added: Some(3),
                    deleted: Some(1),
                    status: "M".into(),
                },
                FileChange {
                    path: "logo.png".into(),
                    added: None,
                    deleted: None,
                    status: "A".into(),
                },
            ],
            ..CommitView::default()
        };
        let page = commit("team-a", &repository(), &view);
        inert(&page.html);
        assert!(page.html.contains("&lt;script&gt;"));
        assert!(
            page.html.contains("    body line\nsecond</pre>"),
            "{}",
            page.html
        );
        let href = file_href(&"ab".repeat(32), &format!("src/{HOSTILE}.rs"));
        assert!(href.ends_with("/files/src/%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E%20%3Cscript%3Ealert%281%29%3C/script%3E.rs"), "{href}");
        assert!(
            page.html.contains(&format!("href=\"{href}\"")),
            "{}",
            page.html
        );
        assert!(page.html.contains(&format!("/commits/{}", "d".repeat(40))));
        assert!(page.html.contains("binary"));
        assert!(page.html.contains("Phase 2"));
        assert!(!page.policy.contains("script-src"));
    }

    #[test]
    fn a_search_says_when_nothing_matches_and_pages_with_its_terms() {
        let mut view = SearchView {
            text: "a&b".into(),
            ..SearchView::default()
        };
        let page = search("team-a", &repository(), &view);
        assert!(page.html.contains("No commit matches this search."));
        assert!(page.html.contains("value=\"a&amp;b\""));
        view.next_cursor = Some("Yy1j".into());
        view.commits = vec![SliceCommit {
            id: "e".repeat(40),
            committed_at: Some("2024-01-02T00:00:00Z".into()),
            author_name: HOSTILE.into(),
            author_email: String::new(),
            class: "feature".into(),
            subject: HOSTILE.into(),
            lines_added: 1,
            lines_deleted: 0,
            files_changed: 1,
            releases: Vec::new(),
        }];
        let page = search("team-a", &repository(), &view);
        inert(&page.html);
        assert!(
            page.html
                .contains("search?q=a%26b&amp;author=&amp;path=&amp;cursor=Yy1j"),
            "{}",
            page.html
        );
        let page = search("team-a", &repository(), &SearchView::default());
        assert!(page.html.contains("Say what to look for"));
    }
}

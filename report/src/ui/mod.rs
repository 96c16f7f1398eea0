//! The gateway's own pages around the report (`/ui/`): sign-in, the account's repositories,
//! and a repository's page, which frames the report page its newest whole-history analysis
//! wrote (served sandboxed by the gateway). Pure like the rest of the crate: data in, HTML and
//! the page's Content-Security-Policy out; the gateway sends the policy as a header.

pub mod analyses;
pub mod commit;

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::csp::hash_source;
use crate::escape::{Inline, Text};

/// The pages' one stylesheet (inline, allowed by its hash).
const STYLE: &str = include_str!("../../assets/ui.css");
/// A repository's page's script: fetches the framed report's graph rows for it.
const FRAME_SCRIPT: &str = include_str!("../../assets/frame.js");

/// A page and the policy it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UiPage {
    pub html: String,
    /// For the `Content-Security-Policy` header: nothing loads but the inline style (and, on a
    /// repository's page, the framed report from the gateway itself); forms post only to it;
    /// no one may frame these pages.
    pub policy: String,
}

/// One repository as the list shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepositoryRow {
    pub fingerprint: String,
    pub url: String,
    pub branch: String,
    pub last_analyzed_commit: Option<String>,
    /// When its newest analysis finished (RFC 3339), and how it ended.
    pub last_finished_at: Option<String>,
    pub last_status: Option<String>,
    /// Whether a story of its whole history exists (its page shows it).
    pub has_story: bool,
    /// Its stored commits in each of the twelve months up to its newest commit's month,
    /// oldest first; empty when none are stored.
    pub activity: Vec<u32>,
    /// That last month, `YYYY-MM`.
    pub activity_to: String,
    /// The RepositoryTracker that started its newest analysis, if one did.
    pub tracker: Option<String>,
}

/// The policy of a page; `framed`: it frames a report; `fetches`: its script fetches the
/// framed report's graph rows.
fn policy_of(framed: bool, fetches: bool) -> String {
    let mut extra = String::new();
    if framed {
        extra.push_str("frame-src 'self'; ");
    }
    if fetches {
        extra.push_str(&format!(
            "script-src {}; connect-src 'self'; ",
            hash_source(FRAME_SCRIPT)
        ));
    }
    format!(
        "default-src 'none'; style-src {}; img-src data:; {extra}form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        hash_source(STYLE),
    )
}

fn policy(framed: bool) -> String {
    policy_of(framed, false)
}

fn layout(title: &str, account: Option<&str>, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                // Not `no-referrer`: with it, browsers send `Origin: null` on the pages' form
                // posts, and the gateway, which refuses posts from other origins, would refuse
                // every sign-in. `same-origin` sends nothing to other sites all the same.
                meta name="referrer" content="same-origin";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (Text(title)) " — gitview" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header.bar {
                    a.home href="/ui/" { "gitview" }
                    @if let Some(account) = account {
                        a href="/ui/analyses" { "Analyses" }
                        span.account { "account " (Inline(account)) }
                        form.signout method="post" action="/ui/sign-out" {
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
    .into_string()
}

/// The sign-in form; `error` says why the last attempt failed.
pub fn sign_in(error: Option<&str>) -> UiPage {
    let body = html! {
        h1 { "Sign in" }
        p { "Sign in with an API key of your account (it has the " code { "read" } " scope; an administrator mints one)." }
        @if let Some(error) = error {
            p.error role="alert" { (Text(error)) }
        }
        form method="post" action="/ui/sign-in" {
            label for="key" { "API key" }
            input #key type="password" name="key" autocomplete="off" required placeholder="gvk_…" autofocus;
            button type="submit" { "Sign in" }
        }
    };
    UiPage {
        html: layout("Sign in", None, body),
        policy: policy(false),
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// The account's repositories, newest analyzed first.
pub fn repositories(account: &str, rows: &[RepositoryRow]) -> UiPage {
    let body = html! {
        h1 { "Repositories" }
        @if rows.is_empty() {
            p { "No repository of this account has been analyzed yet. Create an Analysis or a RepositoryTracker: "
                code { "kubectl gitview analyze URL --wait" } "." }
        } @else {
            table {
                caption { (rows.len()) @if rows.len() == 1 { " repository of " } @else { " repositories of " } (Inline(account)) }
                thead { tr { th scope="col" { "Repository" } th scope="col" { "Branch" } th scope="col" { "Kept analyzed by" } th scope="col" { "Activity" } th scope="col" { "Last analyzed commit" } th scope="col" { "Last analysis" } } }
                tbody {
                    @for row in rows {
                        tr {
                            th scope="row" {
                                @if row.has_story {
                                    a href={ "/ui/repositories/" (row.fingerprint) } { (Inline(&row.url)) }
                                } @else {
                                    (Inline(&row.url))
                                }
                            }
                            td { (Inline(&row.branch)) }
                            td { @if let Some(tracker) = &row.tracker { "tracker " code { (Inline(tracker)) } } @else { span.muted { "analyses applied by hand" } } }
                            td { @if row.activity.is_empty() { "—" } @else { (crate::svg::sparkline(&row.activity, &row.activity_to)) } }
                            td { @if let Some(c) = &row.last_analyzed_commit { code { (Text(short(c))) } } @else { "—" } }
                            td {
                                @if let Some(status) = &row.last_status { (Text(status)) }
                                @if let Some(at) = &row.last_finished_at { " " time datetime=(at) { (Text(at)) } }
                            }
                        }
                    }
                }
            }
        }
    };
    UiPage {
        html: layout("Repositories", Some(account), body),
        policy: policy(false),
    }
}

/// Where a repository's page gets its report from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportSources<'a> {
    /// The report page to frame (the gateway serves it sandboxed).
    pub framed: &'a str,
    /// Its graph's rows, when the framed page asks for them in windows
    /// ([`crate::render_windowed`]).
    pub graph: Option<&'a str>,
    /// The report page that opens on its own (self-contained).
    pub whole: &'a str,
}

/// A repository's page: its name, and the report its newest whole-history analysis wrote,
/// framed (with the rows of its graph fetched for it when it asks).
pub fn repository(account: &str, row: &RepositoryRow, report: ReportSources<'_>) -> UiPage {
    let body = html! {
        nav aria-label="Breadcrumb" { a href="/ui/" { "Repositories" } " / " (Inline(&row.url)) " (" (Inline(&row.branch)) ")" }
        (commit::search_form(&row.fingerprint, None))
        iframe.report src=(report.framed) data-graph=[report.graph] title={ "The story of " (row.url) } sandbox="allow-scripts" {}
        p { a href=(report.whole) { "Open the report on its own" } }
        @if report.graph.is_some() {
            script { (PreEscaped(FRAME_SCRIPT)) }
        }
    };
    UiPage {
        html: layout(&row.url, Some(account), body),
        policy: policy_of(true, report.graph.is_some()),
    }
}

/// A page that says what is not there (with the status the gateway answers).
pub fn not_found(account: &str, message: &str) -> UiPage {
    let body = html! {
        h1 { "Not found" }
        p { (Text(message)) }
        p { a href="/ui/" { "All repositories" } }
    };
    UiPage {
        html: layout("Not found", Some(account), body),
        policy: policy(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_text_is_inert_and_the_policy_allows_only_the_style() {
        let row = RepositoryRow {
            fingerprint: "ab".repeat(32),
            url: "https://x/<script>alert(1)</script>\u{202E}gpj.exe".into(),
            branch: "\"><img src=x onerror=alert(1)>".into(),
            last_analyzed_commit: Some("0123456789abcdef".into()),
            has_story: true,
            activity: vec![3, 0, 5],
            activity_to: "2024-03".into(),
            tracker: Some("<b>kube</b>".into()),
            ..RepositoryRow::default()
        };
        let page = repositories("team-a", std::slice::from_ref(&row));
        assert!(
            page.html
                .contains("tracker <code><bdi>&lt;b&gt;kube&lt;/b&gt;</bdi></code>"),
            "the tracker named, inert: {}",
            page.html
        );
        assert!(
            page.html
                .contains("aria-label=\"Commits in each of the 3 months to 2024-03: 3, 0, 5\""),
            "the activity sparkline with its figures: {}",
            page.html
        );
        assert!(!page.html.contains("<script"), "{}", page.html);
        assert!(!page.html.contains("<img"), "{}", page.html);
        assert!(page.html.contains("&lt;script&gt;"));
        assert!(page.html.contains("⟨U+202E⟩"));
        assert!(
            page.html
                .contains(&format!("/ui/repositories/{}", row.fingerprint))
        );
        assert!(
            page.policy
                .starts_with("default-src 'none'; style-src 'sha256-")
        );
        assert!(page.policy.contains(&hash_source(STYLE)));
        assert!(page.policy.contains("frame-ancestors 'none'"));
        assert!(
            !page.policy.contains("script-src"),
            "no script on these pages"
        );
        let sources = ReportSources {
            framed: "/ui/repositories/x/report",
            graph: Some("/ui/repositories/x/graph"),
            whole: "/ui/repositories/x/report?page=whole",
        };
        let framed = repository("team-a", &row, sources);
        assert!(framed.html.contains("sandbox=\"allow-scripts\""));
        assert!(
            framed
                .html
                .contains("data-graph=\"/ui/repositories/x/graph\"")
        );
        assert!(
            framed
                .html
                .contains("href=\"/ui/repositories/x/report?page=whole\"")
        );
        assert!(framed.policy.contains("frame-src 'self'"));
        assert!(framed.policy.contains("connect-src 'self'"));
        assert!(
            framed
                .policy
                .contains(&format!("script-src {};", hash_source(FRAME_SCRIPT))),
            "the one script, by its hash: {}",
            framed.policy
        );
        let without = repository(
            "team-a",
            &row,
            ReportSources {
                graph: None,
                ..sources
            },
        );
        assert!(!without.html.contains("data-graph") && !without.html.contains("<script"));
        assert!(!without.policy.contains("script-src") && !without.policy.contains("connect-src"));
        let form = sign_in(Some("the API key is unknown or revoked"));
        assert!(form.html.contains("action=\"/ui/sign-in\""));
        assert!(form.html.contains("role=\"alert\""));
        assert!(
            !form.html.contains("Sign out"),
            "no account before signing in"
        );
    }
}

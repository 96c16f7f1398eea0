//! The gateway's pages of an account's analyses: the list, newest first, and one analysis with
//! its status, attempt, progress, artifacts and run log. The one page with a script is an
//! analysis': a few lines (`SCRIPT`) that poll its progress while the run is running, allowed
//! by their hash; the page reads the same without them.

use gitview_core::results::{AnalysisSummary, ArtifactInfo, LogRecord, ProgressRecord, RunStatus};
use maud::{Markup, PreEscaped, html};

use super::commit::encode;
use super::{UiPage, layout, policy, short};
use crate::csp::hash_source;
use crate::escape::{Inline, Text};

/// The analysis page's script: polls the progress while the run is running.
const SCRIPT: &str = include_str!("../../assets/progress.js");

/// An analysis as the list shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnalysisRow {
    pub summary: AnalysisSummary,
    /// Its newest progress event, if it wrote any.
    pub progress: Option<ProgressRecord>,
}

/// An analysis as its page shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalysisView {
    pub summary: AnalysisSummary,
    pub progress: Option<ProgressRecord>,
    pub artifacts: Vec<ArtifactInfo>,
    /// A page of its run log, in order.
    pub log: Vec<LogRecord>,
    /// The cursor of the log's next page, if there is one.
    pub log_next: Option<String>,
}

fn status(status: &RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "running",
        RunStatus::Succeeded => "succeeded",
        RunStatus::Failed => "failed",
    }
}

fn analysis_href(id: &str) -> String {
    format!("/ui/analyses/{}", encode(id, false))
}

/// A size in bytes, KiB or MiB.
fn size(bytes: u64) -> String {
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.1} KiB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MiB", bytes as f64 / 1_048_576.0),
    }
}

fn progress_text(progress: Option<&ProgressRecord>) -> Markup {
    html! {
        @if let Some(p) = progress {
            (Text(&p.event.stage)) " " (p.event.done) "/" (p.event.total)
        } @else { "—" }
    }
}

/// The account's analyses, newest first; `next_cursor` pages on.
pub fn analyses(account: &str, rows: &[AnalysisRow], next_cursor: Option<&str>) -> UiPage {
    let body = html! {
        h1 { "Analyses" }
        @if rows.is_empty() {
            p { "This account has no analysis yet." }
        } @else {
            table.analyses {
                caption { "Newest first" }
                thead { tr {
                    th scope="col" { "Created" } th scope="col" { "Analysis" } th scope="col" { "Repository" }
                    th scope="col" { "Status" } th scope="col" { "Progress" } th scope="col" { "Commits" }
                } }
                tbody {
                    @for row in rows {
                        @let a = &row.summary;
                        tr {
                            td { time datetime=(a.created_at) { (Text(a.created_at.get(..16).unwrap_or(&a.created_at))) } }
                            th scope="row" { a href=(analysis_href(&a.id)) { (Inline(&a.namespace)) "/" (Inline(&a.name)) } }
                            td { (Inline(&a.repository.url)) " (" (Inline(&a.repository.branch)) ")" }
                            td { (status(&a.status)) }
                            td { (progress_text(row.progress.as_ref())) }
                            td { (a.commits_analyzed) }
                        }
                    }
                }
            }
        }
        @if let Some(cursor) = next_cursor {
            nav.pages aria-label="Pages" { a rel="next" href={ "/ui/analyses?cursor=" (encode(cursor, false)) } { "Older analyses →" } }
        }
    };
    UiPage {
        html: layout("Analyses", Some(account), body),
        policy: policy(false),
    }
}

/// An analysis' page: what it is, how it went, its progress (kept current by `SCRIPT` while
/// it runs), its artifacts and its run log.
pub fn analysis(account: &str, view: &AnalysisView) -> UiPage {
    let a = &view.summary;
    let href = analysis_href(&a.id);
    let (done, total) = view
        .progress
        .as_ref()
        .map_or((0, 0), |p| (p.event.done, p.event.total));
    let body = html! {
        nav aria-label="Breadcrumb" { a href="/ui/analyses" { "Analyses" } " / " (Inline(&a.namespace)) "/" (Inline(&a.name)) }
        h1 { "Analysis " (Inline(&a.namespace)) "/" (Inline(&a.name)) }
        dl.facts {
            dt { "Status" } dd #status { (status(&a.status)) }
            dt { "Attempt" } dd { (a.attempt) }
            dt { "Mode" } dd { (Text(&a.mode)) }
            dt { "Repository" } dd {
                a href={ "/ui/repositories/" (a.repository.fingerprint) } { (Inline(&a.repository.url)) } " (" (Inline(&a.repository.branch)) ")"
            }
            dt { "Commits" } dd {
                (a.commits_analyzed) " analyzed"
                @if let Some(to) = &a.to_commit {
                    ", " @if let Some(from) = &a.from_commit { code { (Text(short(from))) } } @else { "the start" }
                    " to " code { (Text(short(to))) }
                }
            }
            dt { "Created" } dd { time datetime=(a.created_at) { (Text(&a.created_at)) } }
            dt { "Started" } dd { time datetime=(a.started_at) { (Text(&a.started_at)) } }
            dt { "Finished" } dd { @if let Some(at) = &a.finished_at { time datetime=(at) { (Text(at)) } } @else { "not yet" } }
            @if !a.message.is_empty() { dt { "Message" } dd { (Inline(&a.message)) } }
        }
        h2 { "Progress" }
        section #progress data-src={ (href) "/progress" } data-status=(status(&a.status)) aria-live="polite" {
            p {
                "Stage " strong #progress-stage { @if let Some(p) = &view.progress { (Text(&p.event.stage)) } @else { "not started" } }
                ": " span #progress-done { (done) } " of " span #progress-total { (total) }
            }
            progress #progress-bar max=(total.max(1)) value=(done.min(total.max(1))) { (done) " of " (total) }
        }
        h2 { "Artifacts" }
        @if view.artifacts.is_empty() {
            p { "None stored." }
        } @else {
            ul.artifacts {
                @for artifact in &view.artifacts {
                    li {
                        a href={ (href) "/artifacts/" (encode(&artifact.name, false)) } { (Inline(&artifact.name)) }
                        " " span.muted { (Text(&artifact.media_type)) ", " (size(artifact.size)) }
                    }
                }
            }
        }
        h2 { "Run log" }
        @if view.log.is_empty() {
            p { "No log lines stored." }
        } @else {
            table.log {
                thead { tr { th scope="col" { "Attempt" } th scope="col" { "Time" } th scope="col" { "Level" } th scope="col" { "Message" } } }
                tbody {
                    @for record in &view.log {
                        tr {
                            td { (record.attempt) }
                            td { time datetime=(record.line.at) { (Text(&record.line.at)) } }
                            td { (record.line.level.as_str()) }
                            td { (Inline(&record.line.message)) }
                        }
                    }
                }
            }
            @if let Some(cursor) = &view.log_next {
                nav.pages aria-label="Log pages" { a rel="next" href={ (href) "?log=" (encode(cursor, false)) } { "More of the log →" } }
            }
        }
        script { (PreEscaped(SCRIPT)) }
    };
    UiPage {
        html: layout(
            &format!("Analysis {}/{}", a.namespace, a.name),
            Some(account),
            body,
        ),
        // The page's own script, and its polls of the gateway (same origin).
        policy: format!(
            "{}; script-src {}; connect-src 'self'",
            policy(false),
            hash_source(SCRIPT)
        ),
    }
}

#[cfg(test)]
mod tests {
    use gitview_core::results::{LogLevel, LogLine, ProgressEvent, RepositoryRef};

    use super::*;

    const HOSTILE: &str = "\"><img src=x onerror=alert(1)> <script>alert(1)</script>";

    fn summary() -> AnalysisSummary {
        AnalysisSummary {
            id: "uid-1".into(),
            repository: RepositoryRef {
                fingerprint: "ab".repeat(32),
                url: HOSTILE.into(),
                branch: "main".into(),
                last_analyzed_commit: None,
            },
            namespace: "team".into(),
            name: HOSTILE.into(),
            attempt: 2,
            mode: "Full".into(),
            status: RunStatus::Running,
            message: HOSTILE.into(),
            from_commit: None,
            to_commit: None,
            commits_analyzed: 0,
            created_at: "2024-01-01T00:00:00.000000Z".into(),
            started_at: "2024-01-01T00:00:00.000000Z".into(),
            finished_at: None,
        }
    }

    fn scripts(html: &str) -> usize {
        html.matches("<script").count()
    }

    #[test]
    fn the_analysis_page_runs_only_its_own_hashed_script() {
        let view = AnalysisView {
            summary: summary(),
            progress: Some(ProgressRecord {
                event: ProgressEvent {
                    stage: "extract".into(),
                    done: 3,
                    total: 10,
                    elapsed_ms: 5,
                },
                attempt: Some(2),
                at: "2024-01-01T00:00:01Z".into(),
            }),
            artifacts: vec![ArtifactInfo {
                name: "story.md".into(),
                media_type: "text/markdown".into(),
                size: 2048,
                sha256: "0".repeat(64),
            }],
            log: vec![LogRecord {
                attempt: 2,
                line: LogLine {
                    seq: 0,
                    at: "2024-01-01T00:00:01Z".into(),
                    level: LogLevel::Info,
                    message: HOSTILE.into(),
                    fields: serde_json::json!({}),
                },
            }],
            log_next: Some("bA".into()),
        };
        let page = analysis("team-a", &view);
        assert_eq!(scripts(&page.html), 1, "{}", page.html);
        assert!(!page.html.contains("<img"));
        assert!(page.html.contains(SCRIPT));
        assert!(
            page.policy
                .contains(&format!("script-src {}", hash_source(SCRIPT)))
        );
        assert!(page.policy.contains("connect-src 'self'"));
        assert!(page.policy.contains("frame-ancestors 'none'"));
        assert!(
            page.html
                .contains("data-src=\"/ui/analyses/uid-1/progress\"")
        );
        assert!(page.html.contains("data-status=\"running\""));
        assert!(page.html.contains("<span id=\"progress-done\">3</span>"));
        assert!(
            page.html
                .contains("href=\"/ui/analyses/uid-1/artifacts/story.md\"")
        );
        assert!(page.html.contains("2.0 KiB"));
        assert!(page.html.contains("href=\"/ui/analyses/uid-1?log=bA\""));
    }

    #[test]
    fn the_list_shows_hostile_names_as_text_and_no_script() {
        let rows = [AnalysisRow {
            summary: summary(),
            progress: None,
        }];
        let page = analyses("team-a", &rows, Some("YQ"));
        assert_eq!(scripts(&page.html), 0);
        assert!(!page.html.contains("<img"));
        assert!(page.html.contains("href=\"/ui/analyses/uid-1\""));
        assert!(page.html.contains("/ui/analyses?cursor=YQ"));
        assert!(!page.policy.contains("script-src"));
        assert!(
            analyses("team-a", &[], None)
                .html
                .contains("no analysis yet")
        );
    }
}

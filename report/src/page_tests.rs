//! The whole page: hostile repository text stays inert, every link lands, the policy's hashes
//! are those of the blocks it allows.

use gitview_core::story::{Claim, Evidence, StoryCoverage, StoryDocument, escape_markdown};

use super::*;
use crate::graph::GraphCommit;
use crate::{
    AreaOwner, Author, CommitEntry, CoupledFiles, Hotspot, Milestone, Month, Phase, Release,
    StorylineSpan,
};

const EVIL_SUBJECT: &str = "</script><script>alert(1)</script> \"><img src=x onerror=alert(2)>";
const EVIL_AUTHOR: &str = "Mallory \u{202E}gnp.exe\u{200B}";
const EVIL_PATH: &str = "src/\"><svg onload=alert(3)>.rs";
const EVIL_TAG: &str = "v1<script>";

fn id(n: u8) -> String {
    format!("{n:02x}").repeat(20)
}

fn commit(n: u8, subject: &str, author: &str) -> CommitEntry {
    CommitEntry {
        id: id(n),
        time: 1_700_000_000 + i64::from(n) * 86_400 * 20,
        date: format!("2023-11-{:02}", n),
        author: author.into(),
        subject: subject.into(),
        class: "fix".into(),
        added: 10,
        deleted: 2,
        files: 1,
        tags: Vec::new(),
    }
}

fn claim(text: String, commits: &[String]) -> Claim {
    Claim {
        text,
        evidence: Evidence {
            commits: commits.to_vec(),
            figures: serde_json::Map::new(),
        },
    }
}

/// A report whose repository text is hostile everywhere it can be.
fn hostile() -> Report {
    let mut tagged = commit(3, "Release", "Ada");
    tagged.tags = vec![EVIL_TAG.into()];
    let commits = vec![
        commit(1, "Initial commit", "Ada"),
        commit(2, EVIL_SUBJECT, EVIL_AUTHOR),
        tagged,
    ];
    let story = StoryDocument {
        title: "<b>repo</b>".into(),
        coverage: Some(StoryCoverage {
            whole_history: true,
            commits: 3,
            first_commit: Some(id(1)),
            last_commit: Some(id(3)),
        }),
        sections: vec![
            StorySection {
                id: "summary".into(),
                heading: "In brief".into(),
                list: false,
                claims: vec![
                    claim(
                        format!(
                            "{} wrote “{}” (`{}`).",
                            escape_markdown(EVIL_AUTHOR),
                            escape_markdown(EVIL_SUBJECT),
                            &id(2)[..7]
                        ),
                        &[id(2)],
                    ),
                    claim(
                        "It has 3 commits.".into(),
                        &[id(1), id(2), id(3), "ff".repeat(20)],
                    ),
                ],
            },
            StorySection {
                id: "risks".into(),
                heading: "Risks".into(),
                list: true,
                claims: vec![claim(format!("`{EVIL_PATH}` is a hotspot."), &[id(3)])],
            },
            StorySection {
                id: "phase-1\"><x".into(),
                heading: "Phase 1".into(),
                list: false,
                claims: vec![claim("**Themes:** one fix.".into(), &[])],
            },
        ],
        storylines: Vec::new(),
    };
    Report {
        story,
        range: "HEAD".into(),
        phases: vec![Phase {
            number: 1,
            name: EVIL_SUBJECT.into(),
            start_time: commits[0].time,
            end_time: commits[2].time,
            start: "2023-11-01".into(),
            end: "2023-11-03".into(),
            commits: 3,
            authors: 2,
            first_commit: id(1),
            last_commit: id(3),
        }],
        releases: vec![Release {
            name: EVIL_TAG.into(),
            time: commits[2].time,
            commit: id(3),
        }],
        milestones: vec![Milestone {
            time: commits[1].time,
            date: "2023-11-02".into(),
            text: format!("{} arrives", escape_markdown(EVIL_AUTHOR)),
            commit: Some(id(2)),
        }],
        months: vec![Month {
            month: "2023-11".into(),
            commits: 3,
            authors: 2,
            added: 30,
            deleted: 6,
        }],
        storylines: vec![StorylineSpan {
            id: "storyline-1".into(),
            title: EVIL_SUBJECT.into(),
            category: "bug-campaign\"".into(),
            lifecycle: "active".into(),
            commits: 2,
            first_time: commits[1].time,
            last_time: commits[2].time,
            first_commit: id(2),
            last_commit: id(3),
        }],
        hotspots: vec![Hotspot {
            path: EVIL_PATH.into(),
            churn: 12,
            weighted: 11.5,
            commits: 2,
            last_commit: id(2),
        }],
        coupling: vec![CoupledFiles {
            a: EVIL_PATH.into(),
            b: "b.rs".into(),
            support: 2,
            confidence: 1.0,
            evidence: vec![id(3)],
        }],
        ownership: vec![AreaOwner {
            area: EVIL_PATH.into(),
            lines: 12,
            authors: 2,
            main: Some((EVIL_AUTHOR.into(), 0.8)),
            bus_factor: 1,
        }],
        authors: vec![Author {
            name: EVIL_AUTHOR.into(),
            commits: 1,
            hours: 2.0,
            first_commit: id(2),
            last_commit: id(2),
        }],
        graph: vec![
            GraphCommit {
                id: id(3),
                parents: vec![id(2)],
                class: "feature".into(),
                subject: "Release".into(),
                tags: vec![EVIL_TAG.into()],
            },
            GraphCommit {
                id: id(2),
                parents: vec![id(1)],
                class: "fix\"><x".into(),
                subject: EVIL_SUBJECT.into(),
                tags: Vec::new(),
            },
            GraphCommit {
                id: id(1),
                parents: Vec::new(),
                class: "chore".into(),
                subject: "Initial commit".into(),
                tags: Vec::new(),
            },
        ],
        commits,
    }
}

/// The values of `attr="…"` in `html`.
fn attribute_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!(" {attr}=\"");
    html.match_indices(&needle)
        .map(|(at, _)| {
            let rest = &html[at + needle.len()..];
            &rest[..rest.find('"').expect("attribute closed")]
        })
        .collect()
}

/// The text of each `<tag…>…</tag>` whose opening tag is exactly `open`.
fn blocks<'a>(html: &'a str, open: &str, close: &str) -> Vec<&'a str> {
    html.match_indices(open)
        .map(|(at, _)| {
            let rest = &html[at + open.len()..];
            &rest[..rest.find(close).expect("block closed")]
        })
        .collect()
}

#[test]
fn headings_show_their_text_once_escaped() {
    // A heading as the story writes it: repository text escaped for Markdown.
    let mut report = hostile();
    report.story.sections[0].heading = format!(
        "Phase 1. up to {}",
        escape_markdown("v0.1.0+\"><img src=x>")
    );
    let page = render(&report);
    assert!(
        page.contains("<bdi>Phase 1. up to v0.1.0+&quot;&gt;&lt;img src=x&gt;</bdi>"),
        "{page}"
    );
    assert!(
        !page.contains("&amp;gt;") && !page.contains("&amp;lt;"),
        "escaped twice"
    );
}

#[test]
fn hostile_repository_text_is_inert() {
    let page = render(&hostile());
    // The only elements are the page's own: the graph's data block and two scripts.
    assert_eq!(page.matches("<script").count(), 3, "{page}");
    assert_eq!(page.matches("</script>").count(), 3);
    assert!(!page.contains("<img") && !page.contains("<svg onload") && !page.contains("<b>"));
    assert!(!page.contains("<x"));
    // Shown as text instead, and the direction override is visible, not obeyed.
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"));
    assert!(page.contains("Mallory ⟨U+202E⟩gnp.exe⟨U+200B⟩"));
    assert!(!page.contains('\u{202E}') && !page.contains('\u{200B}'));
    assert!(page.contains("<bdi>Mallory"));
    // The graph's data holds the subject too, escaped so it cannot close its block.
    let graph = blocks(
        &page,
        "<script type=\"application/json\" id=\"graph-data\">",
        "</script>",
    );
    assert!(graph[0].contains("\\u003c/script\\u003e\\u003cscript\\u003ealert(1)"));
    let parsed: serde_json::Value = serde_json::from_str(graph[0]).expect("the graph is JSON");
    assert_eq!(parsed["sub"][1], EVIL_SUBJECT);
    assert_eq!(parsed["tags"][0][1], EVIL_TAG);
    assert_eq!(parsed["n"], 3);
}

#[test]
fn every_link_lands_on_the_page() {
    let page = render(&hostile());
    let ids: HashSet<&str> = attribute_values(&page, "id").into_iter().collect();
    let targets: Vec<&str> = attribute_values(&page, "href")
        .into_iter()
        .map(|href| {
            href.strip_prefix('#')
                .unwrap_or_else(|| panic!("an outside link: {href}"))
        })
        .collect();
    assert!(targets.len() > 20, "{targets:?}");
    let graph: Vec<String> = hostile().graph.iter().map(|c| c.id.clone()).collect();
    for target in &targets {
        // `#commit-<id>` the script answers by showing the commit's row in the graph.
        match target.strip_prefix("commit-") {
            Some(commit) => assert_eq!(
                graph.iter().filter(|id| id.starts_with(commit)).count(),
                1,
                "no one row for {target:?}"
            ),
            None => assert!(ids.contains(target), "no element with id {target:?}"),
        }
    }
    // Each sentence's evidence that the page lists is linked from it…
    let sentence = blocks(
        &page,
        "<span class=\"claim\" id=\"s-summary-1\">",
        "</span>",
    )[0];
    assert!(sentence.contains(&format!("href=\"#c-{}\"", id(2))));
    let all = &page[page.find("id=\"s-summary-2\"").unwrap()..];
    for n in 1..=3 {
        assert!(all.contains(&format!("href=\"#c-{}\"", id(n))));
    }
    // …and a commit the page does not list is counted, not linked.
    assert!(!targets.contains(&format!("c-{}", "ff".repeat(20)).as_str()));
    assert!(page.contains("(+1 more commits in story.json)"));
    // Commits link back to the sentences citing them.
    let entry = blocks(&page, &format!("<li id=\"c-{}\">", id(2)), "</li>")[0];
    assert!(entry.contains("href=\"#s-summary-1\""));
}

#[test]
fn the_policy_allows_exactly_the_inline_blocks() {
    let page = render(&hostile());
    let policy = attribute_values(&page, "content")
        .into_iter()
        .find(|c| c.starts_with("default-src"))
        .expect("a Content-Security-Policy");
    assert!(page.contains("<meta http-equiv=\"Content-Security-Policy\""));
    let styles = blocks(&page, "<style>", "</style>");
    let scripts = blocks(&page, "<script>", "</script>");
    // The filter's script and the graph's.
    assert_eq!((styles.len(), scripts.len()), (1, 2));
    let directive = |name: &str| {
        policy
            .split(';')
            .map(str::trim)
            .find_map(|d| d.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {policy}"))
            .trim()
            .to_owned()
    };
    assert_eq!(directive("default-src"), "'none'");
    assert_eq!(directive("style-src"), csp::hash_source(styles[0]));
    assert_eq!(
        directive("script-src"),
        format!(
            "{} {}",
            csp::hash_source(scripts[0]),
            csp::hash_source(scripts[1])
        )
    );
    // No inline style attributes or event handlers, which no hash would allow.
    assert!(attribute_values(&page, "style").is_empty());
    let mut markup = page.clone();
    for block in styles.iter().chain(&scripts) {
        markup = markup.replace(block, "");
    }
    for tag in markup.split('<').skip(1) {
        let tag = &tag[..tag.find('>').expect("tag closed")];
        assert!(!tag.contains(" on"), "an event handler in <{tag}>");
    }
}

#[test]
fn the_same_report_renders_the_same_bytes() {
    assert_eq!(render(&hostile()), render(&hostile()));
}

#[test]
fn an_empty_history_still_renders() {
    let page = render(&Report::default());
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("<h1><bdi>History</bdi></h1>"));
    // No graph: no graph's script either, in the page or in its policy.
    assert_eq!(page.matches("<script>").count(), 1);
    assert!(!page.contains(&csp::hash_source(GRAPH_SCRIPT)));
}

#[test]
fn every_element_the_script_looks_up_is_on_the_page() {
    let page = render(&hostile());
    let ids: HashSet<&str> = attribute_values(&page, "id").into_iter().collect();
    let mut looked_up = 0;
    let scripts = [FILTER_SCRIPT, GRAPH_SCRIPT].concat();
    for rest in scripts.split("getElementById(\"").skip(1) {
        let end = rest.find('"').expect("a quoted id");
        let id = &rest[..end];
        if rest[end + 1..].starts_with(" +") {
            // A prefix (`"c-" + id`): some element has it.
            assert!(
                ids.iter().any(|i| i.starts_with(id)),
                "no element's id starts with {id}"
            );
        } else {
            assert!(
                ids.contains(id),
                "the script looks up #{id}, which the page lacks"
            );
        }
        looked_up += 1;
    }
    assert!(looked_up >= 12, "{looked_up}");
}

#[test]
fn the_graph_marks_the_story_and_commits_the_page_does_not_list_link_to_their_rows() {
    let mut report = hostile();
    // A release and a table's commit the page does not list (the story names neither).
    report.graph.insert(
        0,
        GraphCommit {
            id: id(4),
            parents: vec![id(3)],
            class: "fix".into(),
            subject: "Later".into(),
            tags: vec!["v2".into()],
        },
    );
    report.releases.insert(
        0,
        Release {
            name: "v2".into(),
            time: report.commits[0].time,
            commit: id(4),
        },
    );
    report.hotspots[0].last_commit = id(4);
    let page = render(&report);
    assert!(!page.contains(&format!("id=\"c-{}\"", id(4))));
    assert_eq!(
        page.matches(&format!("href=\"#commit-{}\"", &id(4)[..12]))
            .count(),
        2,
        "the release's mark and the hotspot's latest commit lead to the graph"
    );
    // A commit neither listed nor in the graph is plain text.
    report.hotspots[0].last_commit = "ee".repeat(20);
    let page = render(&report);
    assert!(page.contains("<td><code>eeeeeee</code></td>"));

    let page = render(&hostile());
    let graph = blocks(
        &page,
        "<script type=\"application/json\" id=\"graph-data\">",
        "</script>",
    );
    let graph: serde_json::Value = serde_json::from_str(graph[0]).expect("the graph is JSON");
    // Rows, newest first: id(3) is row 0, id(1) row 2.
    assert_eq!(graph["heads"], serde_json::json!([[0, "HEAD"]]));
    // The phase's name as text, cut to a label's length.
    let phase = &graph["phases"][0];
    assert_eq!(
        (&phase[0], &phase[1]),
        (&serde_json::json!(0), &serde_json::json!(2))
    );
    let label = phase[2].as_str().unwrap();
    assert!(
        label.starts_with("1. </script><script>alert(1)") && label.ends_with('…'),
        "{label}"
    );
    assert_eq!(
        graph["marks"],
        serde_json::json!([[1, "Mallory ⟨U+202E⟩gnp.exe⟨U+200B⟩ arrives"]])
    );
}

#[test]
fn the_graph_labels_the_ranges_tip() {
    let mut report = hostile();
    for (range, tip) in [
        ("v1.0..main", "main"),
        ("a...b<x>", "b<x>"),
        ("HEAD", "HEAD"),
        ("x..", "HEAD"),
    ] {
        report.range = range.into();
        let page = render(&report);
        let graph = blocks(
            &page,
            "<script type=\"application/json\" id=\"graph-data\">",
            "</script>",
        );
        let graph: serde_json::Value = serde_json::from_str(graph[0]).expect("the graph is JSON");
        assert_eq!(graph["heads"], serde_json::json!([[0, tip]]), "{range}");
    }
}

#[test]
fn the_windowed_page_carries_the_graphs_skeleton_and_the_graph_goes_apart() {
    let report = hostile();
    let pages = render_windowed(&report);
    assert_eq!(
        pages.whole,
        render(&report),
        "the self-contained page as render's"
    );
    let data = graph::data(&report.graph, &graph_marks(&report));
    assert_eq!(
        serde_json::from_str::<graph::GraphData>(&pages.graph).unwrap(),
        data,
        "graph.json reads back as the graph"
    );
    // The block holds the skeleton: no rows, the rows of the commits the page lists.
    let block = blocks(&pages.page, "id=\"graph-data\">", "</script>")[0];
    let skeleton: serde_json::Value = serde_json::from_str(block).unwrap();
    assert_eq!(skeleton["window"], true);
    assert_eq!(skeleton["n"], data.n);
    for rows in ["ids", "sub", "lane", "cls", "edges"] {
        assert!(skeleton.get(rows).is_none(), "{rows} in the skeleton");
    }
    let named = skeleton["named"].as_array().unwrap();
    assert!(!named.is_empty());
    for pair in named {
        let id = pair[1].as_str().unwrap();
        assert_eq!(id.len(), graph::NAMED_DIGITS);
        assert!(
            report.commits.iter().any(|c| c.id.starts_with(id)),
            "{id} is listed"
        );
        assert_eq!(pair[0].as_u64().map(|r| r as u32), data.find(id));
    }
    assert!(skeleton.get("tags").is_none(), "tags come with the rows");
    // The same scripts under the same policy; the footer says where the rows come from.
    assert_eq!(
        blocks(&pages.page, "<script>", "</script>"),
        blocks(&pages.whole, "<script>", "</script>")
    );
    assert!(
        pages
            .page
            .contains("the page framing it fetches as you scroll")
    );
    assert!(pages.page.len() < pages.whole.len());
}

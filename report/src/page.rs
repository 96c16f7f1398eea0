//! The page itself: one `maud` template per part, assembled by [`render`].

use std::collections::{HashMap, HashSet};

use gitview_core::story::{Claim, StorySection, grouped};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::escape::{Inline, Text, fragment, json_for_script, json_script, script_block};
use crate::markdown::{CommitLinks, is_block, to_html, to_plain, to_text};
use crate::{Report, csp, graph, svg};

/// The stylesheet, inline in every page.
pub(crate) const STYLE: &str = include_str!("../assets/report.css");
/// The commit filter, inline in every page.
pub(crate) const FILTER_SCRIPT: &str = include_str!("../assets/filter.js");
/// The graph's drawing, inline in every page with a graph.
pub(crate) const GRAPH_SCRIPT: &str = include_str!("../assets/graph.js");

/// Evidence links written after a sentence, at most (the rest are counted).
const EVIDENCE_SHOWN: usize = 8;
/// Links back from a commit to the sentences citing it, at most.
const CITED_SHOWN: usize = 6;

/// The fragment of a commit's entry.
fn commit_anchor(id: &str) -> String {
    format!("c-{}", fragment(id))
}

/// The fragment the page's script answers by showing a commit's row in the graph: the id's
/// first 12 digits, which the script resolves like git resolves a short id.
fn graph_anchor(id: &str) -> String {
    format!("commit-{}", fragment(id.get(..12).unwrap_or(id)))
}

/// The commits on the page, by full id, for resolving what sentences name.
struct CommitIndex<'a> {
    /// Sorted full ids.
    ids: Vec<&'a str>,
    /// The commit graph's full ids.
    graph: HashSet<&'a str>,
}

impl<'a> CommitIndex<'a> {
    fn new(report: &'a Report) -> Self {
        let mut ids: Vec<&str> = report.commits.iter().map(|c| c.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let graph = report.graph.iter().map(|c| c.id.as_str()).collect();
        Self { ids, graph }
    }

    fn in_graph(&self, id: &str) -> bool {
        self.graph.contains(id)
    }

    fn contains(&self, id: &str) -> bool {
        self.ids.binary_search(&id).is_ok()
    }

    /// The one commit on the page whose id starts with `prefix`.
    fn unique(&self, prefix: &str) -> Option<&'a str> {
        let start = self.ids.partition_point(|id| *id < prefix);
        let mut found = self.ids[start..]
            .iter()
            .take_while(|id| id.starts_with(prefix));
        match (found.next(), found.next()) {
            (Some(id), None) => Some(id),
            _ => None,
        }
    }

    /// The anchor of `id`'s entry if the page lists it.
    fn anchor(&self, id: &str) -> Option<String> {
        self.contains(id).then(|| commit_anchor(id))
    }

    /// The anchor of `id`'s entry if the page lists it, else of its row in the graph: what a
    /// table's or a chart's commit links to.
    fn anchor_or_row(&self, id: &str) -> Option<String> {
        self.anchor(id)
            .or_else(|| self.in_graph(id).then(|| graph_anchor(id)))
    }
}

/// A sentence's commit links: its own evidence first, then any commit on the page the id
/// names unambiguously.
struct ClaimLinks<'a, 'b> {
    evidence: &'b [String],
    page: &'b CommitIndex<'a>,
}

impl CommitLinks for ClaimLinks<'_, '_> {
    fn link(&self, short: &str) -> Option<String> {
        let mut own = self
            .evidence
            .iter()
            .filter(|id| id.starts_with(short) && self.page.contains(id));
        match (own.next(), own.next()) {
            (Some(id), None) => Some(commit_anchor(id)),
            (Some(_), Some(_)) => None,
            (None, _) => self.page.unique(short).map(commit_anchor),
        }
    }
}

/// The fragment of a story sentence.
fn claim_anchor(section: &StorySection, index: usize) -> String {
    format!("s-{}-{}", fragment(&section.id), index + 1)
}

/// Where each commit is cited: the first sentence citing it in each section (its anchor) and
/// the section's heading.
fn citations(report: &Report, page: &CommitIndex<'_>) -> HashMap<String, Vec<(String, String)>> {
    let mut cited: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for section in &report.story.sections {
        for (i, claim) in section.claims.iter().enumerate() {
            for id in &claim.evidence.commits {
                if page.contains(id) {
                    let sentences = cited.entry(id.clone()).or_default();
                    if sentences.last().is_none_or(|(_, h)| *h != section.heading) {
                        sentences.push((claim_anchor(section, i), section.heading.clone()));
                    }
                }
            }
        }
    }
    cited
}

/// The page for `report`: one self-contained HTML document.
pub fn render(report: &Report) -> String {
    let data = graph::data(&report.graph, &graph_marks(report));
    render_page(report, &data, Some(&graph_json(&data)))
}

/// The graph's data as JSON made safe for a script block: still JSON, which `graph.json` is.
fn graph_json(data: &graph::GraphData) -> String {
    json_for_script(&serde_json::to_string(data).expect("graph data always serializes"))
}

/// The pages for the gateway's web UI: `page`, like [`render`]'s but whose graph carries only
/// its [`graph::Skeleton`] and asks the page framing it for its rows in windows (the gateway
/// answers them from `graph`, the whole graph as JSON); and `whole`, [`render`]'s page, which
/// opens on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Windowed {
    pub page: String,
    pub graph: String,
    pub whole: String,
}

/// [`Windowed`]'s pages and graph for `report`, its graph laid out and serialized once (the
/// whole page's block is `graph.json`'s text).
pub fn render_windowed(report: &Report) -> Windowed {
    let data = graph::data(&report.graph, &graph_marks(report));
    let graph = graph_json(&data);
    Windowed {
        page: render_page(report, &data, None),
        whole: render_page(report, &data, Some(&graph)),
        graph,
    }
}

/// The page; `inline`: the graph's whole data for its block ([`graph_json`]), or `None` for
/// the windowed page, whose block is the skeleton.
fn render_page(report: &Report, data: &graph::GraphData, inline: Option<&str>) -> String {
    let windowed = inline.is_none();
    let page = CommitIndex::new(report);
    let cited = citations(report, &page);
    let link = |id: &str| page.anchor(id);
    // A release's commit is listed only when the story names it: its mark leads to its row in
    // the graph otherwise.
    let release_link = |id: &str| page.anchor_or_row(id);
    let sections: HashSet<String> = report
        .story
        .sections
        .iter()
        .map(|s| format!("sec-{}", fragment(&s.id)))
        .collect();
    let phase_section = |number: usize| {
        let anchor = format!("sec-phase-{number}");
        sections.contains(&anchor).then_some(anchor)
    };
    let story = &report.story;
    let title = if story.title.is_empty() {
        "History"
    } else {
        story.title.as_str()
    };
    let scripts: &[&str] = if report.graph.is_empty() {
        &[FILTER_SCRIPT]
    } else {
        &[FILTER_SCRIPT, GRAPH_SCRIPT]
    };
    let policy = csp::policy(&[STYLE], scripts);
    let (t0, t1) = (
        report.commits.iter().map(|c| c.time).min().unwrap_or(0),
        report.commits.iter().map(|c| c.time).max().unwrap_or(0),
    );
    let (t0, t1) = match (report.phases.first(), report.phases.last()) {
        (Some(first), Some(last)) => (first.start_time.min(t0), last.end_time.max(t1)),
        _ => (t0, t1),
    };
    let coverage = story.coverage.as_ref();
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(policy);
                meta name="referrer" content="no-referrer";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="generator" content="gitview";
                title { (Text(title)) " — gitview" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { (Inline(title)) }
                    p.lede {
                        @if let Some(coverage) = coverage {
                            (grouped(coverage.commits)) " commits"
                            @if !coverage.whole_history { " (a range of the history)" }
                            ", "
                        }
                        "range " code { (Text(&report.range)) }
                        @if let (Some(first), Some(last)) = (report.months.first(), report.months.last()) {
                            ", " (Text(&first.month)) " to " (Text(&last.month))
                        }
                        ". Written by gitview from the facts of the history; a sentence's commits link to their entries under “Commits named”."
                    }
                }
                nav.toc aria-label="Contents" {
                    h2 { "Contents" }
                    ol {
                        li {
                            a href="#story" { "The story" }
                            ol {
                                @for section in &story.sections {
                                    li { a href=(format!("#sec-{}", fragment(&section.id))) { (Heading(&section.heading)) } }
                                }
                            }
                        }
                        @if !report.phases.is_empty() { li { a href="#phases" { "Phases, releases and milestones" } } }
                        @if !report.months.is_empty() { li { a href="#activity" { "Monthly activity" } } }
                        @if !report.storylines.is_empty() { li { a href="#storylines" { "Storylines" } } }
                        @if !report.hotspots.is_empty() || !report.coupling.is_empty() { li { a href="#hotspots" { "Hotspots and coupling" } } }
                        @if !report.ownership.is_empty() { li { a href="#ownership" { "Ownership and bus factor" } } }
                        @if !report.authors.is_empty() { li { a href="#authors" { "Authors" } } }
                        @if !report.graph.is_empty() { li { a href="#graph-sec" { "Commit graph" } } }
                        li { a href="#commits" { "Commits named" } }
                    }
                }
                main {
                    section #story aria-labelledby="story-h" {
                        h2 #story-h { "The story" }
                        @for section in &story.sections {
                            (story_section(section, &page))
                        }
                    }
                    @if !report.phases.is_empty() {
                        section #phases aria-labelledby="phases-h" {
                            h2 #phases-h { "Phases, releases and milestones" }
                            p.legend {
                                span.sw.phase {} "phases (each links to its part of the story)"
                                span.sw.release {} "releases"
                                span.sw.milestone {} "milestones"
                            }
                            (svg::phase_band(&report.phases, &report.releases, &report.milestones, &phase_section, &release_link))
                            (phase_table(report, &phase_section))
                        }
                    }
                    @if !report.months.is_empty() {
                        (activity(report))
                    }
                    @if !report.storylines.is_empty() {
                        section #storylines aria-labelledby="storylines-h" {
                            h2 #storylines-h { "Storylines" }
                            (svg::storyline_lanes(&report.storylines, t0, t1, &link))
                            (storyline_table(report, &page))
                        }
                    }
                    @if !report.hotspots.is_empty() || !report.coupling.is_empty() {
                        (hotspots(report, &page))
                    }
                    @if !report.ownership.is_empty() {
                        (ownership(report))
                    }
                    @if !report.authors.is_empty() {
                        (authors(report, &page))
                    }
                    @if !report.graph.is_empty() {
                        (graph_section(report, data, inline))
                    }
                    (commit_list(report, &page, &cited))
                }
                footer {
                    @if windowed {
                        p { "This page loads nothing itself: its scripts filter the commit list and draw the graph, whose rows the page framing it fetches as you scroll. "
                            "The same facts are in story.json, timeline.json, phases.json and commits.jsonl beside it." }
                    } @else {
                        p { "This page is self-contained: it loads nothing, and its scripts only filter the commit list and draw the graph. "
                            "The same facts are in story.json, timeline.json, phases.json and commits.jsonl beside it." }
                    }
                }
                @for script in scripts {
                    script { (PreEscaped(script)) }
                }
            }
        }
    };
    markup.into_string()
}

/// A section's heading: Markdown as `story.json` holds it (repository text in it already
/// escaped for Markdown), shown as its text, isolated like other repository text.
struct Heading<'a>(&'a str);

impl maud::Render for Heading<'_> {
    fn render_to(&self, buffer: &mut String) {
        buffer.push_str("<bdi>");
        buffer.push_str(&to_plain(self.0));
        buffer.push_str("</bdi>");
    }
}

fn story_section(section: &StorySection, page: &CommitIndex<'_>) -> Markup {
    let id = format!("sec-{}", fragment(&section.id));
    html! {
        section.story id=(id) {
            h3 { (Heading(&section.heading)) }
            @if section.list {
                ul {
                    @for (i, claim) in section.claims.iter().enumerate() {
                        li.claim id=(claim_anchor(section, i)) { (claim_html(claim, page)) }
                    }
                }
            } @else if section.claims.iter().any(|c| is_block(&c.text)) {
                // Paragraphs and lists cannot stand in a <p>: each sentence gets a block.
                @for (i, claim) in section.claims.iter().enumerate() {
                    div.claim id=(claim_anchor(section, i)) { (claim_html(claim, page)) }
                }
            } @else {
                p {
                    @for (i, claim) in section.claims.iter().enumerate() {
                        span.claim id=(claim_anchor(section, i)) { (claim_html(claim, page)) }
                        " "
                    }
                }
            }
        }
    }
}

/// A sentence with its commit ids linked, then links to the evidence it does not name.
fn claim_html(claim: &Claim, page: &CommitIndex<'_>) -> Markup {
    let links = ClaimLinks {
        evidence: &claim.evidence.commits,
        page,
    };
    let text = to_html(&claim.text, &links);
    let unnamed: Vec<&String> = claim
        .evidence
        .commits
        .iter()
        .filter(|id| {
            page.contains(id) && !text.contains(&format!("href=\"#{}\"", commit_anchor(id)))
        })
        .collect();
    let missing = claim
        .evidence
        .commits
        .iter()
        .filter(|id| !page.contains(id))
        .count();
    let hidden = unnamed.len().saturating_sub(EVIDENCE_SHOWN) + missing;
    html! {
        (PreEscaped(text))
        @for id in unnamed.iter().take(EVIDENCE_SHOWN) {
            " " a.ev href=(format!("#{}", commit_anchor(id))) { code { (Text(id.get(..7).unwrap_or(id))) } }
        }
        @if hidden > 0 {
            " " span.more { "(+" (hidden) " more commits in story.json)" }
        }
    }
}

fn phase_table(report: &Report, section: &dyn Fn(usize) -> Option<String>) -> Markup {
    html! {
        details {
            summary { "The phases as a table" }
            table {
                thead { tr { th { "Phase" } th { "From" } th { "To" } th.n { "Commits" } th.n { "Authors" } } }
                tbody {
                    @for phase in &report.phases {
                        tr {
                            td {
                                @match section(phase.number) {
                                    Some(anchor) => a href=(format!("#{anchor}")) { (phase.number) ". " (Inline(&phase.name)) },
                                    None => { (phase.number) ". " (Inline(&phase.name)) },
                                }
                            }
                            td { (Text(&phase.start)) } td { (Text(&phase.end)) }
                            td.n { (grouped(phase.commits)) } td.n { (grouped(phase.authors)) }
                        }
                    }
                }
            }
        }
    }
}

fn activity(report: &Report) -> Markup {
    let months = &report.months;
    html! {
        section #activity aria-labelledby="activity-h" {
            h2 #activity-h { "Monthly activity" }
            h3 { "Commits" }
            (svg::monthly_bars(months, "commits", &|m| m.commits, &|m| format!("{}: {}", m.month, svg::plural(m.commits, "commit"))))
            h3 { "Active authors" }
            (svg::monthly_bars(months, "authors", &|m| m.authors, &|m| format!("{}: {}", m.month, svg::plural(m.authors, "author"))))
            h3 { "Lines changed" }
            (svg::monthly_bars(months, "lines", &|m| m.added + m.deleted,
                &|m| format!("{}: +{} −{} lines", m.month, grouped(m.added), grouped(m.deleted))))
            details {
                summary { "The monthly figures as a table" }
                // Numbers right-aligned by the table's class: a long history has hundreds of rows.
                table.figures {
                    thead { tr { th { "Month" } th { "Commits" } th { "Authors" } th { "Added" } th { "Deleted" } } }
                    tbody {
                        @for m in months {
                            tr { td { (Text(&m.month)) } td { (grouped(m.commits)) } td { (grouped(m.authors)) }
                                td { (grouped(m.added)) } td { (grouped(m.deleted)) } }
                        }
                    }
                }
            }
        }
    }
}

/// A commit id as a link to its entry, or to its row in the graph when the page does not list
/// it, or as plain text when neither has it.
fn commit_ref(id: &str, page: &CommitIndex<'_>) -> Markup {
    let short = id.get(..7).unwrap_or(id);
    html! {
        @match page.anchor_or_row(id) {
            Some(anchor) => a.cid href=(format!("#{anchor}")) { code { (Text(short)) } },
            None => code { (Text(short)) },
        }
    }
}

fn storyline_table(report: &Report, page: &CommitIndex<'_>) -> Markup {
    html! {
        table {
            thead { tr { th { "Storyline" } th { "Category" } th { "State" } th.n { "Commits" } th { "First" } th { "Latest" } } }
            tbody {
                @for s in &report.storylines {
                    tr id=(fragment(&s.id)) {
                        td { (Inline(&s.title)) } td { (Text(&s.category)) } td { (Text(&s.lifecycle)) }
                        td.n { (grouped(s.commits)) }
                        td { (commit_ref(&s.first_commit, page)) } td { (commit_ref(&s.last_commit, page)) }
                    }
                }
            }
        }
    }
}

fn hotspots(report: &Report, page: &CommitIndex<'_>) -> Markup {
    html! {
        section #hotspots aria-labelledby="hotspots-h" {
            h2 #hotspots-h { "Hotspots and coupling" }
            @if !report.hotspots.is_empty() {
                h3 { "Files that change most, lately" }
                table {
                    thead { tr { th { "File" } th.n { "Lines changed" } th.n { "Weighted by recency" } th.n { "Commits" } th { "Latest" } } }
                    tbody {
                        @for h in &report.hotspots {
                            tr { td.path { (Inline(&h.path)) } td.n { (grouped(h.churn)) } td.n { (format!("{:.0}", h.weighted)) }
                                td.n { (grouped(u64::from(h.commits))) } td { (commit_ref(&h.last_commit, page)) } }
                        }
                    }
                }
            }
            @if !report.coupling.is_empty() {
                h3 { "Files that change together" }
                table {
                    thead { tr { th { "File" } th { "and file" } th.n { "Together" } th.n { "Confidence" } th { "Latest" } } }
                    tbody {
                        @for c in &report.coupling {
                            tr { td.path { (Inline(&c.a)) } td.path { (Inline(&c.b)) } td.n { (grouped(u64::from(c.support))) }
                                td.n { (format!("{:.0} %", c.confidence * 100.0)) }
                                td { @if let Some(id) = c.evidence.first() { (commit_ref(id, page)) } } }
                        }
                    }
                }
            }
        }
    }
}

fn ownership(report: &Report) -> Markup {
    html! {
        section #ownership aria-labelledby="ownership-h" {
            h2 #ownership-h { "Ownership and bus factor" }
            table {
                thead { tr { th { "Area" } th.n { "Lines" } th.n { "Authors" } th { "Main author" } th.n { "Share" } th.n { "Bus factor" } } }
                tbody {
                    @for area in &report.ownership {
                        tr { td.path { (Inline(&area.area)) } td.n { (grouped(area.lines)) } td.n { (grouped(u64::from(area.authors))) }
                            @if let Some((name, share)) = &area.main {
                                td { (Inline(name)) } td.n { (format!("{:.0} %", share * 100.0)) }
                            } @else { td {} td {} }
                            td.n { (area.bus_factor) } }
                    }
                }
            }
        }
    }
}

fn authors(report: &Report, page: &CommitIndex<'_>) -> Markup {
    html! {
        section #authors aria-labelledby="authors-h" {
            h2 #authors-h { "Authors" }
            table {
                thead { tr { th { "Author" } th.n { "Commits" } th.n { "Hours (estimate)" } th { "First" } th { "Latest" } } }
                tbody {
                    @for a in &report.authors {
                        tr { td { (Inline(&a.name)) } td.n { (grouped(u64::from(a.commits))) } td.n { (format!("{:.0}", a.hours)) }
                            td { (commit_ref(&a.first_commit, page)) } td { (commit_ref(&a.last_commit, page)) } }
                    }
                }
            }
        }
    }
}

/// The range's tip as a branch name: `main` for `v1.0..main`, the range itself otherwise.
fn tip(range: &str) -> &str {
    let tip = range
        .rsplit("..")
        .next()
        .unwrap_or(range)
        .trim_start_matches('.');
    if tip.is_empty() { "HEAD" } else { tip }
}

/// What the graph marks: the range's tip, the phases, the milestones.
fn graph_marks(report: &Report) -> graph::Marks {
    graph::Marks {
        heads: report
            .graph
            .first()
            .map(|c| (c.id.clone(), tip(&report.range).to_owned()))
            .into_iter()
            .collect(),
        phases: report
            .phases
            .iter()
            .map(|p| {
                (
                    p.first_commit.clone(),
                    p.last_commit.clone(),
                    format!("{}. {}", p.number, to_text(&p.name)),
                )
            })
            .collect(),
        milestones: report
            .milestones
            .iter()
            .filter_map(|m| Some((m.commit.clone()?, to_text(&m.text))))
            .collect(),
    }
}

fn graph_section(report: &Report, data: &graph::GraphData, inline: Option<&str>) -> Markup {
    html! {
        section #graph-sec aria-labelledby="graph-h" {
            h2 #graph-h { "Commit graph" }
            p { "All " (grouped(data.n as u64)) " commits, newest first, each dot coloured by its class; "
                "lines join commits to their parents, so branches and merges show as lanes; a line that would run more than " (graph::LONGEST_EDGE) " rows is a dashed stub at each end. "
                "A rule and a stripe mark where each phase begins, a diamond each milestone; "
                "the branch and the tags stand at the commits they name. "
                "Only the rows in view are drawn." }
            p #graph-nojs { "The graph is drawn by the page's script, which is off: the commits the story names are listed below." }
            div #graph-tools hidden {
                button #graph-newest type="button" { "Newest commit" } " "
                button #graph-first type="button" { "First commit" }
                p.legend {
                    @for class in &data.classes {
                        svg viewBox="0 0 10 10" aria-hidden="true" { circle cx="5" cy="5" r="4" class=(format!("k-{}", fragment(class))) {} }
                        (Text(class))
                    }
                    span.sw.phase {} "phase begins"
                    span.sw.milestone-d {} "milestone"
                    span.sw.stub {} "a dashed stub: the line goes on to a commit far away"
                    span.gl.gtag { "tag" }
                    span.gl.ghead { "branch" }
                }
                p.gwhere { output #graph-where {} " " output #graph-status aria-live="polite" {} }
            }
            div #graph tabindex="0" role="region" aria-label="Commit graph, scrollable" hidden {
                div #graph-inner { div #graph-svg {} }
            }
            @if let Some(json) = inline {
                (script_block("graph-data", json))
            } @else {
                (json_script("graph-data", &data.skeleton(&report.commits.iter().map(|c| c.id.as_str()).collect::<Vec<_>>())))
            }
        }
    }
}

fn commit_list(
    report: &Report,
    page: &CommitIndex<'_>,
    cited: &HashMap<String, Vec<(String, String)>>,
) -> Markup {
    // Tags in the entries; the releases are among them.
    let empty = Vec::new();
    html! {
        section #commits aria-labelledby="commits-h" {
            h2 #commits-h { "Commits named" }
            p { "The " (grouped(report.commits.len() as u64)) " commits the story names, oldest first. "
                "An entry's id, and the other commits in the tables and the charts, show their rows in the commit graph." }
            div #filter hidden {
                label for="filter-text" { "Filter by id, subject, author, date, class or tag: " }
                input #filter-text type="search" autocomplete="off";
                " " output #filter-count for="filter-text" {}
            }
            ol.commits {
                @for c in &report.commits {
                    @let sentences = cited.get(&c.id).unwrap_or(&empty);
                    li id=(commit_anchor(&c.id)) {
                        // The id shows the commit's row in the graph (its entry is this).
                        @if page.in_graph(&c.id) {
                            a.cid href=(format!("#{}", graph_anchor(&c.id))) { code { (Text(c.id.get(..12).unwrap_or(&c.id))) } }
                        } @else {
                            code { (Text(c.id.get(..12).unwrap_or(&c.id))) }
                        }
                        " " span.cls { (Text(&c.class)) } " "
                        (Inline(&c.subject))
                        @for tag in &c.tags { " " span.tag { (Inline(tag)) } }
                        span.meta {
                            (Inline(&c.author)) ", " time { (Text(&c.date)) } ", "
                            span.add { "+" (grouped(c.added)) } " " span.del { "−" (grouped(c.deleted)) }
                            " in " (grouped(u64::from(c.files))) @if c.files == 1 { " file" } @else { " files" }
                        }
                        @if !sentences.is_empty() {
                            span.cited {
                                "Cited in: "
                                @for (i, (anchor, heading)) in sentences.iter().take(CITED_SHOWN).enumerate() {
                                    @if i > 0 { ", " }
                                    a href=(format!("#{anchor}")) { (Heading(heading)) }
                                }
                                @if sentences.len() > CITED_SHOWN { " and " (sentences.len() - CITED_SHOWN) " more sections" }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "page_tests.rs"]
mod tests;

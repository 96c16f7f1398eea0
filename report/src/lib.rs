//! The report page: a history's story, its evidence and its charts in, one self-contained HTML
//! page out. Pure: no I/O, no clock, no randomness — the same [`Report`] always renders the
//! same bytes, so `analyze --update` writes what a full run writes.
//!
//! The runner fills a [`Report`] from its facts and analyses and writes the page as
//! `index.html`; the gateway's `/ui/` pages are meant to render the same types.
//!
//! The page:
//! * the story, section by section, each sentence with an anchor and links to the commits it
//!   names, which are listed (short id, subject, author, date, +/−) at the end of the page with
//!   links back to the sentences that cite them;
//! * the phases as a timeline band with releases and milestones ([`svg`]);
//! * monthly commits, authors and lines as bar charts, each bar with a `<title>`, and the
//!   figures as a table;
//! * the storylines on the same time axis; hotspots, coupled files, ownership and bus factor,
//!   authors;
//! * the commit graph over the whole history ([`graph`]): lanes laid out here, drawn by the
//!   page's script in bands of rows as they come into view, with the phases, milestones, the
//!   branch and the tags marked; `#commit-<id>` (and a link after each sentence) shows a
//!   commit's row. [`render_windowed`] makes the gateway's variant, whose graph carries only
//!   its skeleton and asks the page framing it for its rows in windows as they come into view.
//!
//! Everything but the commit filter and the graph is static HTML and SVG: the page reads
//! without JavaScript.
//! Styles and the two scripts (the filter's; the graph's, on pages with a graph) are inline and
//! allowed by their SHA-256 hashes in a `Content-Security-Policy` (`default-src 'none'`), so
//! nothing else runs and nothing loads.
//! Repository text goes through [`escape`]; sentences through [`markdown`].
#![forbid(unsafe_code)]

pub mod csp;
pub mod escape;
pub mod graph;
pub mod markdown;
mod page;
pub mod svg;
pub mod ui;

use gitview_core::story::StoryDocument;

pub use page::{Windowed, render, render_windowed};

/// Everything the page shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// The story as `story.json` holds it.
    pub story: StoryDocument,
    /// The range analyzed, as the story names it (`HEAD`, `v1.0..main`).
    pub range: String,
    /// The commits the page lists: at least every commit the story's sentences, milestones and
    /// storylines name. Oldest first. A table's or a release's commit not among them links to
    /// its row in the graph; commits in neither are shown as plain ids without a link.
    pub commits: Vec<CommitEntry>,
    /// Oldest first.
    pub phases: Vec<Phase>,
    /// Releases, oldest first.
    pub releases: Vec<Release>,
    /// Oldest first.
    pub milestones: Vec<Milestone>,
    /// Every month from the first commit's to the last one's, oldest first.
    pub months: Vec<Month>,
    pub storylines: Vec<StorylineSpan>,
    pub hotspots: Vec<Hotspot>,
    pub coupling: Vec<CoupledFiles>,
    pub ownership: Vec<AreaOwner>,
    /// Most commits first.
    pub authors: Vec<Author>,
    /// Every commit of the history for the commit graph, newest first in `git log` order
    /// (empty: no graph).
    pub graph: Vec<graph::GraphCommit>,
}

/// One commit as the page lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitEntry {
    /// The full id.
    pub id: String,
    /// Author time, seconds since the epoch.
    pub time: i64,
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    pub author: String,
    pub subject: String,
    /// The enrich stage's class: `feature`, `fix`, `docs`, …
    pub class: String,
    pub added: u64,
    pub deleted: u64,
    pub files: u32,
    /// Tags naming the commit.
    pub tags: Vec<String>,
}

/// A phase of the history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Phase {
    /// 1-based; the story's section `phase-N` tells it.
    pub number: usize,
    pub name: String,
    /// First and last commit's times (seconds since the epoch) and days (`YYYY-MM-DD`).
    pub start_time: i64,
    pub end_time: i64,
    pub start: String,
    pub end: String,
    pub commits: u64,
    pub authors: u64,
    /// The full ids of its first and last commit (the graph marks the rows between).
    pub first_commit: String,
    pub last_commit: String,
}

/// A release tag and the commit it names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Release {
    pub name: String,
    pub time: i64,
    pub commit: String,
}

/// A milestone of the story.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Milestone {
    pub time: i64,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Markdown, as the story's milestones section writes it.
    pub text: String,
    pub commit: Option<String>,
}

/// One month's activity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Month {
    /// `YYYY-MM`.
    pub month: String,
    pub commits: u64,
    pub authors: u64,
    pub added: u64,
    pub deleted: u64,
}

/// A storyline on the time axis.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StorylineSpan {
    /// `storyline-1`, … as `story.json` names it.
    pub id: String,
    pub title: String,
    pub category: String,
    pub lifecycle: String,
    pub commits: u64,
    pub first_time: i64,
    pub last_time: i64,
    pub first_commit: String,
    pub last_commit: String,
}

/// A file that changes often, lately.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hotspot {
    pub path: String,
    pub churn: u64,
    /// Churn weighted by recency.
    pub weighted: f64,
    pub commits: u32,
    pub last_commit: String,
}

/// Two files that change together.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CoupledFiles {
    pub a: String,
    pub b: String,
    /// Commits changing both.
    pub support: u32,
    /// Of the commits changing either, the share changing both (the larger direction).
    pub confidence: f64,
    /// The latest commits changing both.
    pub evidence: Vec<String>,
}

/// Who owns an area (a top-level directory).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AreaOwner {
    pub area: String,
    pub lines: u64,
    pub authors: u32,
    /// The author of most lines and their share (0–1).
    pub main: Option<(String, f64)>,
    /// The fewest authors who wrote half the lines.
    pub bus_factor: u32,
}

/// An author's part.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Author {
    pub name: String,
    pub commits: u32,
    /// git-hours' estimate.
    pub hours: f64,
    pub first_commit: String,
    pub last_commit: String,
}

//! The commit graph: lanes laid out in Rust, drawn by the page's script over the rows in view
//! only, so a history of 100,000 commits scrolls as lightly as one of 100.
//!
//! [`layout`] places each commit (newest first, in `git log` order) in a lane, the way `git log
//! --graph` and its kin do: a commit takes the leftmost lane that expects it (the others
//! expecting it end there: their branches meet at it), or the leftmost free lane; its first
//! parent continues its lane, further parents join a lane already expecting them or take a
//! free one. An edge then runs from its child's lane down the lane that carried it to its
//! parent's row. [`GraphData`] is that layout as compact columns for the page's JSON block.
//!
//! A page carries the whole [`GraphData`] (`index.html`, self-contained), or only its
//! [`Skeleton`] while the rows come in [`Window`]s as the graph scrolls: the gateway's web UI
//! serves windows of a stored `graph.json`, so a history of 100,000 commits opens without its
//! megabytes of rows.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// One commit of the graph, in display order (newest first).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GraphCommit {
    /// The full id.
    pub id: String,
    /// Full ids, first parent first; parents outside the history are left out of the graph.
    pub parents: Vec<String>,
    /// The enrich stage's class.
    pub class: String,
    pub subject: String,
    /// Tags naming the commit.
    pub tags: Vec<String>,
}

/// An edge from a child row down to a parent row, carried by a lane in between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    pub child: u32,
    pub parent: u32,
    pub lane: u32,
}

/// Edges spanning more rows than this are drawn as stubs at their two ends, their lane not
/// held open between: a history in `git log`'s date order keeps a topic branch's lane open
/// from its first commit down to its base, so a long history would hold hundreds of lanes
/// open at once (git/git: 281) and draw them a pixel apart.
pub const LONGEST_EDGE: u32 = 64;

/// Lanes and edges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// Each row's lane.
    pub lanes: Vec<u32>,
    pub edges: Vec<Edge>,
    /// Edges longer than [`LONGEST_EDGE`]: `(child row, parent row)`, drawn as stubs at both
    /// ends.
    pub stubs: Vec<(u32, u32)>,
    /// Lanes used at most at once.
    pub width: u32,
}

/// The lanes of `commits` (display order: every commit before its parents).
pub fn layout(commits: &[GraphCommit]) -> Layout {
    let row: HashMap<&str, u32> = commits
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i as u32))
        .collect();
    // For each lane, the row of the commit it leads to next.
    let mut open: Vec<Option<u32>> = Vec::new();
    let mut out = Layout::default();
    let free = |open: &mut Vec<Option<u32>>| match open.iter().position(Option::is_none) {
        Some(lane) => lane,
        None => {
            open.push(None);
            open.len() - 1
        }
    };
    for (i, commit) in commits.iter().enumerate() {
        let i = i as u32;
        let mut mine = None;
        for slot in open.iter_mut().enumerate() {
            if *slot.1 == Some(i) {
                *slot.1 = None;
                mine.get_or_insert(slot.0);
            }
        }
        let lane = mine.unwrap_or_else(|| free(&mut open));
        out.lanes.push(lane as u32);
        for (k, parent) in commit.parents.iter().enumerate() {
            let Some(&p) = row.get(parent.as_str()) else {
                continue;
            };
            if p <= i {
                continue; // not in display order: no edge rather than one upwards
            }
            if p - i > LONGEST_EDGE {
                out.stubs.push((i, p));
                continue;
            }
            // The first parent continues the commit's lane even when another lane leads to it
            // too (the two meet at the parent's row); a further parent joins a lane already
            // leading to it, or takes a free one.
            let carrier = if k == 0 && open[lane].is_none() {
                lane
            } else {
                match open.iter().position(|slot| *slot == Some(p)) {
                    Some(existing) => existing,
                    None => free(&mut open),
                }
            };
            open[carrier] = Some(p);
            out.edges.push(Edge {
                child: i,
                parent: p,
                lane: carrier as u32,
            });
        }
        let used = open.iter().rposition(Option::is_some).map_or(0, |l| l + 1);
        out.width = out.width.max(used as u32).max(lane as u32 + 1);
        // Lanes that end here free their tail.
        while open.last() == Some(&None) {
            open.pop();
        }
    }
    out
}

/// The graph as the page's script reads it: columns, not objects.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphData {
    /// Rows.
    pub n: usize,
    /// The lanes used at most at once.
    pub width: u32,
    /// Each row's id: its first 7 hex digits, all rows' concatenated.
    pub ids: String,
    /// Class names; `cls` indexes them.
    pub classes: Vec<String>,
    pub cls: Vec<u8>,
    pub lane: Vec<u32>,
    /// Each row's subject.
    pub sub: Vec<String>,
    /// Rows with tags: `[row, "v1.0, v1.0-final"]`.
    pub tags: Vec<(u32, String)>,
    /// Edges, three numbers each: child row, parent row minus child row, carrying lane.
    pub edges: Vec<u32>,
    /// Edges longer than [`LONGEST_EDGE`], two numbers each: child row, parent row minus child
    /// row; drawn as a stub leaving the child and one reaching the parent.
    #[serde(default)]
    pub stubs: Vec<u32>,
    /// Rows whose 7-digit id another row shares, with their full id: `[row, "0a1b…"]`, so a
    /// `#commit-<id>` fragment finds its row.
    pub long: Vec<(u32, String)>,
    /// Branch heads: `[row, "main"]`.
    pub heads: Vec<(u32, String)>,
    /// Phases, newest first: `[top row (its last commit), bottom row (its first), "3. name"]`.
    pub phases: Vec<(u32, u32, String)>,
    /// Milestones: `[row, "what happened"]`, the text plain.
    pub marks: Vec<(u32, String)>,
}

/// Digits of the ids in [`Skeleton::named`]: the page's links name commits by 12 digits too.
pub const NAMED_DIGITS: usize = 12;

/// Rows of one window, at most: what [`GraphData::window`] answers.
pub const WINDOW_ROWS: usize = 4096;

/// The graph without its rows, for a page that asks for them in windows: its size, lanes,
/// classes and marks, and the rows of the commits the page itself names (so its links find
/// them without asking).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skeleton<'a> {
    pub n: usize,
    pub width: u32,
    pub classes: &'a [String],
    pub heads: &'a [(u32, String)],
    pub phases: &'a [(u32, u32, String)],
    pub marks: &'a [(u32, String)],
    /// `[row, id]` of the commits the page names, the id's first [`NAMED_DIGITS`] digits.
    pub named: Vec<(u32, String)>,
    /// Always true: the rows come in windows.
    pub window: bool,
}

/// Rows `first..first + ids.len() / 7` of a graph, with what drawing them needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub first: u32,
    /// The rows' 7-digit ids, concatenated.
    pub ids: String,
    pub cls: Vec<u8>,
    pub sub: Vec<String>,
    /// The rows' entries of [`GraphData::long`].
    pub long: Vec<(u32, String)>,
    /// The rows' entries of [`GraphData::tags`].
    pub tags: Vec<(u32, String)>,
    /// The lanes of rows `lanes_from..`: the rows' and one more on each side, where the edges
    /// leaving the window join.
    pub lanes_from: u32,
    pub lane: Vec<u32>,
    /// Every edge crossing the rows (child row at or above the last, parent row at or below
    /// the first), three numbers each as in [`GraphData::edges`].
    pub edges: Vec<u32>,
    /// The stubs with an end among the rows, as in [`GraphData::stubs`].
    pub stubs: Vec<u32>,
}

impl GraphData {
    /// The skeleton of this graph, naming the rows of `named` (full ids; those it lacks are
    /// left out).
    pub fn skeleton<'a>(&'a self, named: &[&str]) -> Skeleton<'a> {
        Skeleton {
            n: self.n,
            width: self.width,
            classes: &self.classes,
            heads: &self.heads,
            phases: &self.phases,
            marks: &self.marks,
            named: named
                .iter()
                .filter_map(|id| {
                    let short = id.get(..NAMED_DIGITS).unwrap_or(id);
                    Some((self.find(id)?, short.to_owned()))
                })
                .collect(),
            window: true,
        }
    }

    /// Rows `from..to` (clamped to the graph, at most [`WINDOW_ROWS`]).
    pub fn window(&self, from: usize, to: usize) -> Window {
        let from = from.min(self.n);
        let to = to.clamp(from, self.n.min(from + WINDOW_ROWS));
        let (lanes_from, lanes_to) = (from.saturating_sub(1), (to + 1).min(self.n));
        let edges = self
            .edges
            .chunks_exact(3)
            .filter(|e| {
                let (child, parent) = (e[0] as usize, e[0] as usize + e[1] as usize);
                child < to && parent >= from
            })
            .flatten()
            .copied()
            .collect();
        let rows = from..to;
        let stubs = self
            .stubs
            .chunks_exact(2)
            .filter(|s| {
                rows.contains(&(s[0] as usize)) || rows.contains(&(s[0] as usize + s[1] as usize))
            })
            .flatten()
            .copied()
            .collect();
        Window {
            first: from as u32,
            ids: self
                .ids
                .get(from * 7..to * 7)
                .unwrap_or_default()
                .to_owned(),
            cls: self.cls.get(from..to).unwrap_or_default().to_vec(),
            sub: self.sub.get(from..to).unwrap_or_default().to_vec(),
            long: self
                .long
                .iter()
                .filter(|(row, _)| (from..to).contains(&(*row as usize)))
                .cloned()
                .collect(),
            tags: self
                .tags
                .iter()
                .filter(|(row, _)| (from..to).contains(&(*row as usize)))
                .cloned()
                .collect(),
            lanes_from: lanes_from as u32,
            lane: self
                .lane
                .get(lanes_from..lanes_to)
                .unwrap_or_default()
                .to_vec(),
            edges,
            stubs,
        }
    }

    /// The row of the commit `id` (4 to 40 hex digits), if exactly one row has it, as the
    /// page's script finds it.
    pub fn find(&self, id: &str) -> Option<u32> {
        let id = id.to_ascii_lowercase();
        if !(4..=40).contains(&id.len()) || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let prefix = &id[..id.len().min(7)];
        let mut found: Vec<u32> = self
            .ids
            .as_bytes()
            .chunks(7)
            .enumerate()
            .filter(|(_, row)| row.starts_with(prefix.as_bytes()))
            .map(|(row, _)| row as u32)
            .collect();
        if found.len() > 1 {
            let long: HashMap<u32, &str> = self
                .long
                .iter()
                .map(|(r, full)| (*r, full.as_str()))
                .collect();
            found.retain(|row| long.get(row).is_none_or(|full| full.starts_with(&id)));
        }
        match found[..] {
            [row] => Some(row),
            _ => None,
        }
    }
}

/// What the graph marks beyond its commits, by full commit id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Marks {
    /// Branch heads: the commit and the branch's name.
    pub heads: Vec<(String, String)>,
    /// Phases: their first and last commit and their label.
    pub phases: Vec<(String, String, String)>,
    /// Milestones and releases: the commit and a plain-text label.
    pub milestones: Vec<(String, String)>,
}

/// Subjects in the graph, at most this many characters.
pub const SUBJECT_CHARS: usize = 80;

/// Labels in the graph (phases, milestones, heads), at most this many characters.
pub const LABEL_CHARS: usize = 60;

/// The data of `commits`' graph, with `marks` placed at their rows (marks naming commits the
/// graph lacks are left out).
pub fn data(commits: &[GraphCommit], marks: &Marks) -> GraphData {
    let layout = layout(commits);
    let row: HashMap<&str, u32> = commits
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i as u32))
        .collect();
    let mut prefixes: HashMap<&str, u32> = HashMap::new();
    for c in commits {
        *prefixes.entry(c.id.get(..7).unwrap_or(&c.id)).or_default() += 1;
    }
    let long = commits
        .iter()
        .enumerate()
        .filter(|(_, c)| prefixes.get(c.id.get(..7).unwrap_or(&c.id)) > Some(&1))
        .map(|(i, c)| (i as u32, c.id.clone()))
        .collect();
    let at = |id: &str| row.get(id).copied();
    let mut heads: Vec<(u32, String)> = marks
        .heads
        .iter()
        .filter_map(|(id, name)| Some((at(id)?, shorten(name, LABEL_CHARS))))
        .collect();
    heads.sort();
    let mut phases: Vec<(u32, u32, String)> = marks
        .phases
        .iter()
        .filter_map(|(first, last, label)| {
            let (bottom, top) = (at(first)?, at(last)?);
            Some((
                top.min(bottom),
                bottom.max(top),
                shorten(label, LABEL_CHARS),
            ))
        })
        .collect();
    phases.sort();
    let mut milestones: Vec<(u32, String)> = marks
        .milestones
        .iter()
        .filter_map(|(id, text)| Some((at(id)?, shorten(text, LABEL_CHARS))))
        .collect();
    milestones.sort();
    let mut classes: Vec<String> = Vec::new();
    let mut cls = Vec::with_capacity(commits.len());
    for c in commits {
        let index = match classes.iter().position(|k| *k == c.class) {
            Some(index) => index,
            None => {
                classes.push(c.class.clone());
                classes.len() - 1
            }
        };
        cls.push(u8::try_from(index).unwrap_or(u8::MAX));
    }
    GraphData {
        n: commits.len(),
        width: layout.width,
        ids: commits
            .iter()
            .map(|c| format!("{:0<7}", c.id.get(..7).unwrap_or(&c.id)))
            .collect(),
        classes,
        cls,
        lane: layout.lanes,
        sub: commits
            .iter()
            .map(|c| shorten(&c.subject, SUBJECT_CHARS))
            .collect(),
        tags: commits
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.tags.is_empty())
            .map(|(i, c)| (i as u32, visible(&c.tags.join(", "))))
            .collect(),
        edges: layout
            .edges
            .iter()
            .flat_map(|e| [e.child, e.parent - e.child, e.lane])
            .collect(),
        stubs: layout
            .stubs
            .iter()
            .flat_map(|&(child, parent)| [child, parent - child])
            .collect(),
        long,
        heads,
        phases,
        marks: milestones,
    }
}

/// `text`'s first `chars` characters (and `…` when there were more), made [`visible`].
fn shorten(text: &str, chars: usize) -> String {
    let mut rest = text.chars();
    let head: String = rest.by_ref().take(chars).collect();
    let head = visible(&head);
    if rest.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

/// `text` with the characters that change how text around them reads (direction overrides,
/// zero-width characters, controls) shown as `⟨U+XXXX⟩`, as the rest of the page shows them:
/// the script draws these strings as text, where an override would be obeyed.
fn visible(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if crate::escape::is_hidden(c) {
            let _ = write!(out, "⟨U+{:04X}⟩", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(id: &str, parents: &[&str]) -> GraphCommit {
        GraphCommit {
            id: id.repeat(40 / id.len()),
            parents: parents.iter().map(|p| p.repeat(40 / p.len())).collect(),
            class: "fix".into(),
            subject: format!("commit {id}"),
            tags: Vec::new(),
        }
    }

    #[test]
    fn a_line_keeps_one_lane() {
        let graph = layout(&[commit("c", &["b"]), commit("b", &["a"]), commit("a", &[])]);
        assert_eq!(graph.lanes, [0, 0, 0]);
        assert_eq!(graph.width, 1);
        let edges: Vec<(u32, u32, u32)> = graph
            .edges
            .iter()
            .map(|e| (e.child, e.parent, e.lane))
            .collect();
        assert_eq!(edges, [(0, 1, 0), (1, 2, 0)]);
    }

    #[test]
    fn a_merged_branch_takes_a_second_lane_and_gives_it_back() {
        // m merges s (side) into 2; both come from 1; then 0 on top.
        //   0
        //   m
        //   | s
        //   2 |
        //   |/
        //   1
        let graph = layout(&[
            commit("0", &["m"]),
            commit("m", &["2", "s"]),
            commit("s", &["1"]),
            commit("2", &["1"]),
            commit("1", &[]),
        ]);
        assert_eq!(graph.lanes, [0, 0, 1, 0, 0]);
        assert_eq!(graph.width, 2);
        let edges: Vec<(u32, u32, u32)> = graph
            .edges
            .iter()
            .map(|e| (e.child, e.parent, e.lane))
            .collect();
        // s's edge to 1 runs in s's lane; 2's in lane 0; both end at 1.
        assert_eq!(
            edges,
            [(0, 1, 0), (1, 3, 0), (1, 2, 1), (2, 4, 1), (3, 4, 0)]
        );
    }

    #[test]
    fn parents_outside_the_history_draw_no_edge() {
        let graph = layout(&[commit("b", &["a", "z"]), commit("a", &["y"])]);
        assert_eq!(graph.lanes, [0, 0]);
        assert_eq!(graph.edges.len(), 1);
    }

    #[test]
    fn an_edge_longer_than_the_longest_is_a_stub_and_holds_no_lane() {
        // A line of 100 commits; row 1 is a side commit whose parent is the line's last.
        let n = 100u8;
        let id = |i: u8| format!("{i:02x}").repeat(20);
        let mut rows: Vec<GraphCommit> = (0..n)
            .map(|i| GraphCommit {
                id: id(i),
                parents: if i + 1 < n {
                    vec![id(i + 1)]
                } else {
                    Vec::new()
                },
                class: "fix".into(),
                subject: String::new(),
                tags: Vec::new(),
            })
            .collect();
        rows[0].parents = vec![id(2), id(1)];
        rows[1].parents = vec![id(n - 1)];
        let graph = layout(&rows);
        assert_eq!(graph.stubs, [(1, u32::from(n) - 1)]);
        assert_eq!(graph.width, 2, "the side lane is freed below row 1");
        assert!(graph.lanes[3..].iter().all(|&l| l == 0));
        let data = data(&rows, &Marks::default());
        assert_eq!(data.stubs, [1, u32::from(n) - 2]);
        // A window has the stubs with an end among its rows.
        assert_eq!(data.window(0, 2).stubs, [1, 98]);
        assert_eq!(data.window(90, 100).stubs, [1, 98]);
        assert!(data.window(10, 20).stubs.is_empty());
    }

    #[test]
    fn unrelated_tips_take_their_own_lanes() {
        let graph = layout(&[commit("b", &["a"]), commit("x", &[]), commit("a", &[])]);
        assert_eq!(graph.lanes, [0, 1, 0]);
    }

    #[test]
    fn the_data_is_columns() {
        let mut rows = vec![commit("c", &["b"]), commit("b", &["a"]), commit("a", &[])];
        rows[1].class = "feature".into();
        rows[2].tags = vec!["v1".into(), "<v2>".into()];
        rows[0].subject = "x".repeat(100);
        rows[1].subject = "gnp\u{202E}.exe".into();
        let data = data(&rows, &Marks::default());
        assert_eq!(
            data.sub[1], "gnp⟨U+202E⟩.exe",
            "overrides shown, not obeyed"
        );
        assert_eq!(data.n, 3);
        assert_eq!(data.ids, "ccccccc".to_owned() + "bbbbbbb" + "aaaaaaa");
        assert_eq!(data.classes, ["fix", "feature"]);
        assert_eq!(data.cls, [0, 1, 0]);
        assert_eq!(data.tags, [(2, "v1, <v2>".to_owned())]);
        assert_eq!(data.edges, [0, 1, 0, 1, 1, 0]);
        assert_eq!(data.sub[0].chars().count(), SUBJECT_CHARS + 1);
        assert!(data.long.is_empty() && data.heads.is_empty() && data.phases.is_empty());
    }

    #[test]
    fn marks_land_on_their_rows() {
        let rows = [
            commit("d", &["c"]),
            commit("c", &["b"]),
            commit("b", &["a"]),
            commit("a", &[]),
        ];
        let id = |n: usize| rows[n].id.clone();
        let marks = Marks {
            heads: vec![
                (id(0), "main\u{202E}".into()),
                ("ff".repeat(20), "gone".into()),
            ],
            phases: vec![
                (id(1), id(0), "2. later".into()),
                (id(3), id(2), "1. ".to_owned() + &"x".repeat(100)),
            ],
            milestones: vec![(id(3), "first commit".into())],
        };
        let data = data(&rows, &marks);
        assert_eq!(data.heads, [(0, "main⟨U+202E⟩".to_owned())]);
        assert_eq!(data.phases[0], (0, 1, "2. later".to_owned()));
        assert_eq!((data.phases[1].0, data.phases[1].1), (2, 3));
        assert_eq!(data.phases[1].2.chars().count(), LABEL_CHARS + 1);
        assert_eq!(data.marks, [(3, "first commit".to_owned())]);
    }

    #[test]
    fn a_window_holds_its_rows_and_every_edge_crossing_them() {
        // 0 -> 1 -> ... -> 9 in lane 0, and a side commit at row 2 whose edge runs to row 8.
        let mut rows: Vec<GraphCommit> = (0..10u8)
            .map(|i| {
                let parents: Vec<String> = if i < 9 {
                    vec![format!("{:x}", 15 - i - 1)]
                } else {
                    Vec::new()
                };
                GraphCommit {
                    id: format!("{:x}", 15 - i).repeat(40),
                    parents: parents.iter().map(|p| p.repeat(40)).collect(),
                    class: if i % 2 == 0 { "fix" } else { "feature" }.into(),
                    subject: format!("row {i}"),
                    tags: Vec::new(),
                }
            })
            .collect();
        let side = rows[8].id.clone();
        rows[2].parents.push(side);
        let data = data(&rows, &Marks::default());
        let window = data.window(4, 6);
        assert_eq!(window.first, 4);
        assert_eq!(window.ids, "bbbbbbbaaaaaaa");
        assert_eq!(window.sub, ["row 4", "row 5"]);
        assert_eq!(window.cls, [0, 1]);
        assert_eq!((window.lanes_from, window.lane.len()), (3, 4));
        let edges: Vec<(u32, u32)> = window
            .edges
            .chunks(3)
            .map(|e| (e[0], e[0] + e[1]))
            .collect();
        assert_eq!(
            edges,
            [(2, 8), (3, 4), (4, 5), (5, 6)],
            "the long edge and the rows' own"
        );
        // Clamped to the graph.
        let end = data.window(8, 100);
        assert_eq!((end.first, end.sub.len(), end.lane.len()), (8, 2, 3));
        assert_eq!(data.window(50, 60).sub.len(), 0);
        assert_eq!(data.window(0, usize::MAX).sub.len(), 10);
    }

    #[test]
    fn the_skeleton_names_the_pages_commits_and_find_reads_a_prefix() {
        let rows = [commit("b", &["a"]), commit("a", &[])];
        let data = data(&rows, &Marks::default());
        let skeleton = data.skeleton(&[&rows[1].id, &"f".repeat(40)]);
        assert_eq!(
            skeleton.named,
            [(1, "a".repeat(NAMED_DIGITS))],
            "12 digits, the missing one left out"
        );
        assert!(skeleton.window);
        assert_eq!(data.find("AAAA"), Some(1));
        assert_eq!(data.find(&rows[0].id), Some(0));
        assert_eq!(data.find("aaa"), None, "too short");
        assert_eq!(data.find("zzzz"), None);
        let json = serde_json::to_value(&skeleton).unwrap();
        assert!(
            json.get("sub").is_none() && json.get("edges").is_none(),
            "{json}"
        );
    }

    #[test]
    fn ids_sharing_their_first_seven_digits_are_kept_whole() {
        let mut rows = vec![commit("b", &[]), commit("a", &[]), commit("c", &[])];
        rows[0].id = "1234567".to_owned() + &"b".repeat(33);
        rows[1].id = "1234567".to_owned() + &"a".repeat(33);
        let data = data(&rows, &Marks::default());
        assert_eq!(
            data.long,
            [(0, rows[0].id.clone()), (1, rows[1].id.clone())]
        );
        assert_eq!(data.find("1234567"), None, "two rows");
        assert_eq!(data.find("1234567aa"), Some(1));
        assert_eq!(data.window(1, 2).long, [(1, rows[1].id.clone())]);
    }
}

//! Who wrote what: the main author of each area (top-level directory) and of its largest
//! files, hand-overs between owners, owners who went quiet, and each area's bus factor.
//!
//! # What is counted
//!
//! Lines **added** by each author to a file over its whole life, summed per area, where a file
//! belongs to the area of the path it has at the end. A file's life follows each rename the
//! extract stage detected, and the rename itself (the old path's deletion, the new path's
//! addition) counts for nobody: moving a directory does not make the mover its author (what a
//! partial rename edited in the same commit is lost with it). Only files still in the tree at
//! the last commit count: deleted files hold no lines anyone needs to know. Merge commits are
//! not counted (their lines were counted at the commits they merge).
//!
//! Bots (authors the enrich stage flagged, [`Author::bot`](crate::history::Author::bot)) are
//! counted apart, as `botLines`/`botCommits`, and are never an owner, a hand-over's party or
//! part of a bus factor. Every share is of the lines people (not bots) added.
//!
//! Authors are ranked by lines, then commits, then name and key, so ties resolve the same way
//! on every run.
//!
//! # The rules
//!
//! - **Main author** of a file or area: the first in that ranking, with their share of its
//!   lines; none when people added no lines to it (binary files only, or bots only).
//! - **Bus factor** of an area: the smallest number of authors, taken in ranking order, whose
//!   lines cover at least [`BUS_COVERAGE_PERCENT`] % of the area's lines (the common "truck
//!   factor" heuristic); 0 when the area has no lines by people.
//! - **Hand-over**: an area with at least [`MIN_HANDOVER_COMMITS`] commits by people whose main
//!   author over the first half of those commits (the first ⌊n/2⌋) differs from the main author
//!   over the last half. The hand-over commit is the earliest commit by the new owner before
//!   which the previous owner had added more lines to the area than the new owner, and from
//!   which on the new owner added more than the previous owner ("since c12, Bob added 800 lines
//!   to src, Ada 120"); when lines tie so that no commit qualifies, it is the new owner's first
//!   commit in the last half. One hand-over per area at most.
//! - **Departed owner**: an area whose main author's last commit anywhere in the history (merges
//!   included) is more than [`QUIET_DAYS`] days before the latest commit time, while other
//!   people still changed the area after that commit.
//!
//! # Bounds
//!
//! The [`MAX_AREAS`] areas with the most lines are reported (ties by name), each with its
//! [`TOP_AUTHORS`] first authors and the owners of its [`TOP_FILES`] files with the most lines
//! (ties by path); a bus factor lists at most [`MAX_BUS_AUTHORS`] authors (its `count` is
//! exact). Hand-overs and departures are looked for in the reported areas only.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::lineage::{Lineage, latest_time, lineage};
use crate::{AuthorId, History, PathId};

/// The share of an area's lines its bus-factor authors must cover, in percent.
pub const BUS_COVERAGE_PERCENT: u64 = 50;
/// The fewest commits by people an area needs before a hand-over is looked for.
pub const MIN_HANDOVER_COMMITS: usize = 6;
/// How many days an owner must have been silent (before the latest commit) to have departed.
pub const QUIET_DAYS: i64 = 180;
/// The most areas reported.
pub const MAX_AREAS: usize = 50;
/// The most authors listed per area.
pub const TOP_AUTHORS: usize = 5;
/// The most files listed per area.
pub const TOP_FILES: usize = 5;
/// The most authors a bus factor lists.
pub const MAX_BUS_AUTHORS: usize = 10;

const DAY: i64 = 86_400;

/// Who owns what in a history.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ownership {
    /// The thresholds these results were computed with.
    pub rules: OwnershipRules,
    /// How many areas have files at the end (more than `areas` lists when bounded).
    pub areas_total: u32,
    /// The areas with the most lines, most first.
    pub areas: Vec<AreaOwnership>,
    /// In the order of `areas`.
    pub handovers: Vec<Handover>,
    /// In the order of `areas`.
    pub departures: Vec<Departure>,
}

/// The constants of the rules, carried with the results so a sentence can state them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnershipRules {
    pub bus_coverage_percent: u64,
    pub min_handover_commits: usize,
    pub quiet_days: i64,
}

/// An author's part in a file, an area or a half of an area's commits.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorShare {
    pub name: String,
    pub key: String,
    /// Lines they added.
    pub lines: u64,
    /// `lines` over all lines people added (0 when none).
    pub share: f64,
    /// Their commits that added to it (a commit counts once).
    pub commits: u32,
    /// Their first and last of those commits.
    pub first_commit: String,
    pub last_commit: String,
}

/// One area's ownership.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AreaOwnership {
    /// The top-level directory, or `.` for the files at the root.
    pub area: String,
    /// Its files at the end.
    pub files: u32,
    /// Lines people added to those files.
    pub lines: u64,
    /// Commits by people that changed those files.
    pub commits: u32,
    /// How many people added to it.
    pub authors_total: u32,
    /// Lines and commits by bots, not in any share.
    pub bot_lines: u64,
    pub bot_commits: u32,
    pub main: Option<AuthorShare>,
    /// The first [`TOP_AUTHORS`] authors in ranking order.
    pub authors: Vec<AuthorShare>,
    pub bus_factor: BusFactor,
    /// The owners of its [`TOP_FILES`] files with the most lines.
    pub files_top: Vec<FileOwnership>,
}

/// The fewest authors whose lines cover [`BUS_COVERAGE_PERCENT`] % of an area's lines.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BusFactor {
    pub count: u32,
    /// The lines those authors added, and their share of the area's lines.
    pub lines: u64,
    pub share: f64,
    /// Those authors (at most [`MAX_BUS_AUTHORS`]).
    pub authors: Vec<AuthorShare>,
}

/// One file's ownership.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileOwnership {
    /// Its path at the end.
    pub path: String,
    pub lines: u64,
    pub commits: u32,
    pub bot_lines: u64,
    pub main: Option<AuthorShare>,
}

/// An area whose main author changed between the first and the last half of its commits.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Handover {
    pub area: String,
    /// The area's commits by people.
    pub commits: u32,
    pub first_half: Half,
    pub last_half: Half,
    /// The commit from which on the new owner led.
    pub commit: String,
    /// Lines the previous and the new owner added to the area before `commit`.
    pub before: Lines,
    /// Lines they added from `commit` (included) to the end.
    pub since: Lines,
}

/// A run of an area's commits and its main author.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Half {
    pub first_commit: String,
    pub last_commit: String,
    pub commits: u32,
    /// Lines people added in it.
    pub lines: u64,
    /// Its main author, with figures within the half.
    pub main: AuthorShare,
}

/// Lines of the two parties of a hand-over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Lines {
    pub previous: u64,
    pub new: u64,
}

/// An area whose main author went quiet while others kept changing it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Departure {
    pub area: String,
    /// The area's main author, with figures in the area.
    pub main: AuthorShare,
    /// Their last commit anywhere in the history, and its time.
    pub last_commit: String,
    pub last_time: i64,
    /// Whole days from that commit to the latest commit time.
    pub quiet_days: i64,
    /// Commits by other people that changed the area after `last_commit`.
    pub later_commits: u32,
    pub later_authors: u32,
    pub first_later_commit: String,
    pub last_later_commit: String,
}

/// Who owns what in `history` (see the module docs for the rules).
pub fn ownership(history: &History) -> Ownership {
    let lineage = lineage(history);
    let mut areas = collect_areas(history, &lineage);
    let areas_total = count(areas.len());
    areas.sort_by(|a, b| b.lines().cmp(&a.lines()).then_with(|| a.name.cmp(b.name)));
    areas.truncate(MAX_AREAS);

    let mut last_commit_of: HashMap<AuthorId, usize> = HashMap::new();
    for (index, commit) in history.commits.iter().enumerate() {
        last_commit_of.insert(commit.author, index);
    }
    let latest = latest_time(history);

    let mut result = Ownership {
        rules: OwnershipRules {
            bus_coverage_percent: BUS_COVERAGE_PERCENT,
            min_handover_commits: MIN_HANDOVER_COMMITS,
            quiet_days: QUIET_DAYS,
        },
        areas_total,
        areas: Vec::new(),
        handovers: Vec::new(),
        departures: Vec::new(),
    };
    for area in &areas {
        let ranked = rank(history, &area.steps);
        let owned = area_ownership(history, area, &ranked);
        if let Some(handover) = handover(history, area) {
            result.handovers.push(handover);
        }
        if let Some(main) = ranked.first().filter(|t| t.lines > 0)
            && let Some(departure) = departure(history, area, main, &owned, &last_commit_of, latest)
        {
            result.departures.push(departure);
        }
        result.areas.push(owned);
    }
    result
}

/// One commit's lines in a file or an area, by a person.
#[derive(Clone, Copy, Debug)]
struct Step {
    commit: usize,
    author: AuthorId,
    lines: u64,
}

#[derive(Debug)]
struct FileAcc {
    path: PathId,
    steps: Vec<Step>,
    bot_lines: u64,
}

#[derive(Debug)]
struct AreaAcc<'h> {
    name: &'h str,
    files: Vec<FileAcc>,
    steps: Vec<Step>,
    bot_lines: u64,
    bot_commits: u32,
    last_bot_commit: Option<usize>,
}

impl AreaAcc<'_> {
    fn lines(&self) -> u64 {
        self.steps.iter().map(|s| s.lines).sum()
    }
}

/// The live files grouped by area, with their people's steps and their bots' lines.
fn collect_areas<'h>(history: &'h History, lineage: &Lineage) -> Vec<AreaAcc<'h>> {
    let mut by_name: BTreeMap<&str, usize> = BTreeMap::new();
    let mut areas: Vec<AreaAcc<'h>> = Vec::new();
    // Where each live life sits: (area, file within the area).
    let mut place: Vec<Option<(usize, usize)>> = vec![None; lineage.lives.len()];
    for (index, life) in lineage.lives.iter().enumerate() {
        if !life.alive {
            continue;
        }
        let name = history.area(life.path);
        let area = *by_name.entry(name).or_insert_with(|| {
            areas.push(AreaAcc {
                name,
                files: Vec::new(),
                steps: Vec::new(),
                bot_lines: 0,
                bot_commits: 0,
                last_bot_commit: None,
            });
            areas.len() - 1
        });
        areas[area].files.push(FileAcc {
            path: life.path,
            steps: Vec::new(),
            bot_lines: 0,
        });
        place[index] = Some((area, areas[area].files.len() - 1));
    }
    for touch in &lineage.touches {
        let Some((area, file)) = place[touch.life] else {
            continue;
        };
        let author = history.commits[touch.commit].author;
        let area = &mut areas[area];
        if history.author_of(author).bot {
            area.bot_lines += touch.added;
            area.files[file].bot_lines += touch.added;
            if area.last_bot_commit != Some(touch.commit) {
                area.bot_commits += 1;
                area.last_bot_commit = Some(touch.commit);
            }
            continue;
        }
        let step = Step {
            commit: touch.commit,
            author,
            lines: touch.added,
        };
        push(&mut area.steps, step);
        push(&mut area.files[file].steps, step);
    }
    areas
}

/// Appends a step, adding it to the last one when it is the same commit's.
fn push(steps: &mut Vec<Step>, step: Step) {
    match steps.last_mut() {
        Some(last) if last.commit == step.commit => last.lines += step.lines,
        _ => steps.push(step),
    }
}

/// An author's steps summed up.
#[derive(Clone, Copy, Debug)]
struct Tally {
    author: AuthorId,
    lines: u64,
    commits: u32,
    first: usize,
    last: usize,
}

/// Each author's tally over `steps` (in commit order), in ranking order: lines, then commits,
/// then name and key.
fn rank(history: &History, steps: &[Step]) -> Vec<Tally> {
    let mut tallies: HashMap<AuthorId, Tally> = HashMap::new();
    for step in steps {
        let tally = tallies.entry(step.author).or_insert(Tally {
            author: step.author,
            lines: 0,
            commits: 0,
            first: step.commit,
            last: step.commit,
        });
        tally.lines += step.lines;
        tally.commits += 1;
        tally.last = step.commit;
    }
    let mut ranked: Vec<Tally> = tallies.into_values().collect();
    ranked.sort_by(|a, b| {
        let (x, y) = (history.author_of(a.author), history.author_of(b.author));
        b.lines
            .cmp(&a.lines)
            .then(b.commits.cmp(&a.commits))
            .then_with(|| x.name.cmp(&y.name))
            .then_with(|| x.key.cmp(&y.key))
    });
    ranked
}

fn share_of(history: &History, tally: &Tally, total: u64) -> AuthorShare {
    let author = history.author_of(tally.author);
    AuthorShare {
        name: author.name.clone(),
        key: author.key.clone(),
        lines: tally.lines,
        share: ratio(tally.lines, total),
        commits: tally.commits,
        first_commit: history.commits[tally.first].id.clone(),
        last_commit: history.commits[tally.last].id.clone(),
    }
}

fn main_of(history: &History, ranked: &[Tally], total: u64) -> Option<AuthorShare> {
    ranked
        .first()
        .filter(|t| t.lines > 0)
        .map(|t| share_of(history, t, total))
}

fn area_ownership(history: &History, area: &AreaAcc<'_>, ranked: &[Tally]) -> AreaOwnership {
    let lines = area.lines();
    let mut files: Vec<FileOwnership> = area
        .files
        .iter()
        .map(|file| {
            let ranked = rank(history, &file.steps);
            let lines = file.steps.iter().map(|s| s.lines).sum();
            FileOwnership {
                path: history.path(file.path).to_owned(),
                lines,
                commits: count(file.steps.len()),
                bot_lines: file.bot_lines,
                main: main_of(history, &ranked, lines),
            }
        })
        .collect();
    files.sort_by(|a, b| b.lines.cmp(&a.lines).then_with(|| a.path.cmp(&b.path)));
    files.truncate(TOP_FILES);
    AreaOwnership {
        area: area.name.to_owned(),
        files: count(area.files.len()),
        lines,
        commits: count(area.steps.len()),
        authors_total: count(ranked.len()),
        bot_lines: area.bot_lines,
        bot_commits: area.bot_commits,
        main: main_of(history, ranked, lines),
        authors: ranked
            .iter()
            .take(TOP_AUTHORS)
            .map(|t| share_of(history, t, lines))
            .collect(),
        bus_factor: bus_factor(history, ranked, lines),
        files_top: files,
    }
}

fn bus_factor(history: &History, ranked: &[Tally], total: u64) -> BusFactor {
    let mut covered = 0;
    let mut taken = 0;
    if total > 0 {
        for tally in ranked {
            covered += tally.lines;
            taken += 1;
            if covered * 100 >= total * BUS_COVERAGE_PERCENT {
                break;
            }
        }
    }
    BusFactor {
        count: count(taken),
        lines: covered,
        share: ratio(covered, total),
        authors: ranked
            .iter()
            .take(taken.min(MAX_BUS_AUTHORS))
            .map(|t| share_of(history, t, total))
            .collect(),
    }
}

fn half(history: &History, steps: &[Step]) -> Option<(Half, AuthorId)> {
    let lines = steps.iter().map(|s| s.lines).sum();
    let ranked = rank(history, steps);
    let main = ranked.first().filter(|t| t.lines > 0)?;
    Some((
        Half {
            first_commit: history.commits[steps.first()?.commit].id.clone(),
            last_commit: history.commits[steps.last()?.commit].id.clone(),
            commits: count(steps.len()),
            lines,
            main: share_of(history, main, lines),
        },
        main.author,
    ))
}

fn handover(history: &History, area: &AreaAcc<'_>) -> Option<Handover> {
    let steps = &area.steps;
    if steps.len() < MIN_HANDOVER_COMMITS {
        return None;
    }
    let middle = steps.len() / 2;
    let (first_half, previous) = half(history, &steps[..middle])?;
    let (last_half, new) = half(history, &steps[middle..])?;
    if previous == new {
        return None;
    }
    let total_of = |who: AuthorId| -> u64 {
        steps
            .iter()
            .filter(|s| s.author == who)
            .map(|s| s.lines)
            .sum()
    };
    let totals = Lines {
        previous: total_of(previous),
        new: total_of(new),
    };
    // `before` holds the lines before step `i`; a step qualifies when the previous owner led
    // before it and the new owner leads from it on. Of those, the one where the previous
    // owner's lead was largest: from there on the new owner only gains, so a first commit
    // years before the new owner took over does not count as taking over.
    let mut before = Lines {
        previous: 0,
        new: 0,
    };
    let mut chosen: Option<(usize, Lines, Lines)> = None;
    let mut fallback = None;
    let lead = |lines: &Lines| i128::from(lines.previous) - i128::from(lines.new);
    for (i, step) in steps.iter().enumerate() {
        if step.author == new {
            let since = Lines {
                previous: totals.previous - before.previous,
                new: totals.new - before.new,
            };
            if before.previous > before.new
                && since.new > since.previous
                && chosen.is_none_or(|(_, best, _)| lead(&before) > lead(&best))
            {
                chosen = Some((i, before, since));
            }
            if i >= middle && fallback.is_none() {
                fallback = Some((i, before, since));
            }
        }
        if step.author == previous {
            before.previous += step.lines;
        } else if step.author == new {
            before.new += step.lines;
        }
    }
    let (i, before, since) = chosen.or(fallback)?;
    Some(Handover {
        area: area.name.to_owned(),
        commits: count(steps.len()),
        first_half,
        last_half,
        commit: history.commits[steps[i].commit].id.clone(),
        before,
        since,
    })
}

fn departure(
    history: &History,
    area: &AreaAcc<'_>,
    main: &Tally,
    owned: &AreaOwnership,
    last_commit_of: &HashMap<AuthorId, usize>,
    latest: i64,
) -> Option<Departure> {
    let last = *last_commit_of.get(&main.author)?;
    let last_time = history.commits[last].time;
    if latest - last_time <= QUIET_DAYS * DAY {
        return None;
    }
    let later: Vec<&Step> = area
        .steps
        .iter()
        .filter(|s| s.commit > last && s.author != main.author)
        .collect();
    let (first_later, last_later) = (later.first()?, later.last()?);
    let mut later_authors: Vec<AuthorId> = later.iter().map(|s| s.author).collect();
    later_authors.sort_unstable();
    later_authors.dedup();
    Some(Departure {
        area: area.name.to_owned(),
        main: owned.main.clone()?,
        last_commit: history.commits[last].id.clone(),
        last_time,
        quiet_days: (latest - last_time) / DAY,
        later_commits: count(later.len()),
        later_authors: count(later_authors.len()),
        first_later_commit: history.commits[first_later.commit].id.clone(),
        last_later_commit: history.commits[last_later.commit].id.clone(),
    })
}

/// `part / total`, or 0 for an empty total.
fn ratio(part: u64, total: u64) -> f64 {
    if total == 0 {
        return 0.0;
    }
    // Line counts stay far below 2^53, where f64 holds every integer exactly.
    part as f64 / total as f64
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CommitLabels;
    use crate::testing::Builder;

    fn area<'o>(ownership: &'o Ownership, name: &str) -> &'o AreaOwnership {
        ownership
            .areas
            .iter()
            .find(|a| a.area == name)
            .expect("the area is reported")
    }

    fn names(shares: &[AuthorShare]) -> Vec<&str> {
        shares.iter().map(|s| s.name.as_str()).collect()
    }

    fn bot() -> CommitLabels {
        CommitLabels {
            bot: true,
            ..CommitLabels::default()
        }
    }

    #[test]
    fn the_main_author_is_who_added_most_lines_not_most_commits() {
        let history = Builder::new()
            .commit("Ada", 0, "add a", &[("src/a.rs", '+', 30, 0)])
            .commit("Bob", 1, "edit a", &[("src/a.rs", 'M', 10, 5)])
            .commit("Bob", 2, "add b", &[("src/b.rs", '+', 5, 0)])
            .commit("Bob", 3, "readme", &[("README.md", '+', 2, 0)])
            .build();
        let ownership = ownership(&history);
        assert_eq!(ownership.areas_total, 2);
        let src = area(&ownership, "src");
        assert_eq!((src.files, src.lines, src.commits), (2, 45, 3));
        let main = src.main.as_ref().expect("an owner");
        assert_eq!(
            (main.name.as_str(), main.key.as_str()),
            ("Ada", "ada@example.com")
        );
        assert_eq!((main.lines, main.commits), (30, 1));
        assert!((main.share - 30.0 / 45.0).abs() < 1e-12);
        assert_eq!(
            (main.first_commit.as_str(), main.last_commit.as_str()),
            ("c1", "c1")
        );
        assert_eq!(names(&src.authors), ["Ada", "Bob"]);
        assert_eq!(src.authors[1].commits, 2);
        let files: Vec<(&str, u64, &str)> = src
            .files_top
            .iter()
            .map(|f| {
                let main = f.main.as_ref().expect("an owner");
                (f.path.as_str(), f.lines, main.name.as_str())
            })
            .collect();
        assert_eq!(files, [("src/a.rs", 40, "Ada"), ("src/b.rs", 5, "Bob")]);
        assert_eq!(src.files_top[0].main.as_ref().map(|m| m.share), Some(0.75));
        assert_eq!(
            area(&ownership, ".").main.as_ref().map(|m| m.name.as_str()),
            Some("Bob")
        );
        // The areas with most lines come first.
        assert_eq!(ownership.areas[0].area, "src");

        let json = serde_json::to_value(&ownership).expect("serializes");
        assert_eq!(json["areas"][0]["busFactor"]["count"], 1);
        assert_eq!(json["areas"][0]["main"]["firstCommit"], "c1");
        assert_eq!(json["rules"]["quietDays"], 180);
    }

    #[test]
    fn a_bot_never_owns_and_merges_do_not_count() {
        let mut history = Builder::new()
            .commit("Ada", 0, "add", &[("src/a.rs", '+', 10, 0)])
            .labelled(
                "Renovate",
                1,
                "bump",
                &[("src/a.rs", 'M', 500, 0)],
                &[],
                bot(),
            )
            .commit("Bob", 2, "merge", &[("src/a.rs", 'M', 100, 0)])
            .build();
        history.commits[2].merge = true;
        let ownership = ownership(&history);
        let src = area(&ownership, "src");
        let main = src.main.as_ref().expect("an owner");
        assert_eq!(
            (main.name.as_str(), main.lines, main.share),
            ("Ada", 10, 1.0)
        );
        assert_eq!((src.lines, src.commits, src.authors_total), (10, 1, 1));
        assert_eq!((src.bot_lines, src.bot_commits), (500, 1));
        assert_eq!(src.files_top[0].bot_lines, 500);
        assert_eq!(names(&src.bus_factor.authors), ["Ada"]);

        // An area only a bot wrote has no owner and no bus factor.
        let history = Builder::new()
            .labelled(
                "Renovate",
                0,
                "bump",
                &[("deps/lock", '+', 50, 0)],
                &[],
                bot(),
            )
            .build();
        let deps = super::ownership(&history).areas.remove(0);
        assert_eq!(
            (deps.main, deps.bus_factor.count, deps.bot_lines),
            (None, 0, 50)
        );
    }

    #[test]
    fn renames_carry_ownership_and_deleted_files_drop_out() {
        let history = Builder::new()
            .commit("Ada", 0, "add", &[("src/a.rs", '+', 50, 0)])
            .labelled(
                "Bob",
                1,
                "move",
                &[("src/a.rs", '-', 0, 50), ("lib/a.rs", '+', 50, 0)],
                &[("src/a.rs", "lib/a.rs", 100)],
                CommitLabels::default(),
            )
            .commit("Bob", 2, "scratch", &[("src/tmp.rs", '+', 100, 0)])
            .commit("Bob", 3, "drop", &[("src/tmp.rs", '-', 0, 100)])
            .build();
        let ownership = ownership(&history);
        assert_eq!(ownership.areas_total, 1);
        let lib = area(&ownership, "lib");
        let main = lib.main.as_ref().expect("an owner");
        assert_eq!(
            (main.name.as_str(), main.lines, main.share),
            ("Ada", 50, 1.0)
        );
        assert_eq!(
            (lib.authors_total, lib.files_top[0].path.as_str()),
            (1, "lib/a.rs")
        );
    }

    #[test]
    fn the_bus_factor_is_the_fewest_authors_covering_half_the_lines() {
        let history = Builder::new()
            .commit("Ada", 0, "a", &[("a/x", '+', 60, 0)])
            .commit("Bob", 0, "a", &[("a/x", 'M', 40, 0)])
            .commit("Ada", 0, "b", &[("b/x", '+', 40, 0)])
            .commit("Bob", 0, "b", &[("b/x", 'M', 35, 0)])
            .commit("Cy", 0, "b", &[("b/x", 'M', 25, 0)])
            .commit("Bob", 0, "c", &[("c/x", '+', 50, 0)])
            .commit("Ada", 0, "c", &[("c/x", 'M', 50, 0)])
            .build();
        let ownership = ownership(&history);
        let a = &area(&ownership, "a").bus_factor;
        assert_eq!((a.count, a.lines, a.share), (1, 60, 0.6));
        assert_eq!(names(&a.authors), ["Ada"]);
        let b = &area(&ownership, "b").bus_factor;
        assert_eq!((b.count, b.lines, b.share), (2, 75, 0.75));
        assert_eq!(names(&b.authors), ["Ada", "Bob"]);
        // Exactly half is enough; the tie goes to the name first in order.
        let c = &area(&ownership, "c").bus_factor;
        assert_eq!((c.count, c.lines), (1, 50));
        assert_eq!(names(&c.authors), ["Ada"]);
    }

    #[test]
    fn a_handover_is_dated_at_the_commit_the_new_owner_led_from() {
        let history = Builder::new()
            .commit("Bob", 0, "seed", &[("src/a.rs", '+', 10, 0)])
            .commit("Ada", 1, "1", &[("src/a.rs", 'M', 100, 0)])
            .commit("Ada", 2, "2", &[("src/a.rs", 'M', 100, 0)])
            .commit("Ada", 3, "3", &[("src/a.rs", 'M', 100, 0)])
            .commit("Ada", 4, "4", &[("src/a.rs", 'M', 10, 0)])
            .commit("Bob", 5, "5", &[("src/a.rs", 'M', 200, 0)])
            .commit("Bob", 6, "6", &[("src/b.rs", '+', 200, 0)])
            .commit("Bob", 7, "7", &[("src/b.rs", 'M', 200, 0)])
            .build();
        let ownership = ownership(&history);
        let [handover] = &ownership.handovers[..] else {
            panic!("one hand-over: {:?}", ownership.handovers);
        };
        assert_eq!((handover.area.as_str(), handover.commits), ("src", 8));
        // Not c1 (Bob's seed: nobody led before it), not c5 (the last half's first commit).
        assert_eq!(handover.commit, "c6");
        assert_eq!(
            handover.before,
            Lines {
                previous: 310,
                new: 10
            }
        );
        assert_eq!(
            handover.since,
            Lines {
                previous: 0,
                new: 600
            }
        );
        let first = &handover.first_half;
        assert_eq!(
            (first.first_commit.as_str(), first.last_commit.as_str()),
            ("c1", "c4")
        );
        assert_eq!(
            (first.main.name.as_str(), first.main.lines, first.lines),
            ("Ada", 300, 310)
        );
        let last = &handover.last_half;
        assert_eq!(
            (last.first_commit.as_str(), last.last_commit.as_str()),
            ("c5", "c8")
        );
        assert_eq!(
            (last.main.name.as_str(), last.main.lines, last.commits),
            ("Bob", 600, 4)
        );
        assert_eq!(last.main.first_commit, "c6");
    }

    #[test]
    fn a_handover_is_dated_when_the_new_owner_took_over_not_at_an_early_visit() {
        // Bob visits early (c2), Ada goes on alone for years, then Bob takes over (c9): from
        // c2 on Bob also wrote more than Ada, but he led only from c9.
        let mut builder = Builder::new()
            .commit("Ada", 0, "0", &[("src/a.rs", '+', 400, 0)])
            .commit("Bob", 1, "1", &[("src/a.rs", 'M', 10, 0)]);
        for day in 2..8 {
            builder = builder.commit("Ada", day, "ada", &[("src/a.rs", 'M', 20, 0)]);
        }
        for day in 8..14 {
            builder = builder.commit("Bob", day, "bob", &[("src/a.rs", 'M', 200, 0)]);
        }
        let ownership = ownership(&builder.build());
        let [handover] = &ownership.handovers[..] else {
            panic!("one hand-over: {:?}", ownership.handovers);
        };
        assert_eq!(handover.commit, "c9");
        assert_eq!(
            handover.before,
            Lines {
                previous: 520,
                new: 10
            }
        );
    }

    #[test]
    fn no_handover_when_the_owner_stays_or_the_commits_are_few() {
        let build = |authors: &[(&str, u64)]| {
            let mut builder = Builder::new();
            for (day, (author, lines)) in (0..).zip(authors) {
                builder = builder.commit(author, day, "x", &[("src/a.rs", 'M', *lines, 0)]);
            }
            ownership(&builder.build()).handovers
        };
        let handovers = build(&[
            ("Ada", 100),
            ("Ada", 100),
            ("Ada", 100),
            ("Bob", 100),
            ("Bob", 100),
            ("Bob", 100),
        ]);
        assert_eq!(
            handovers
                .iter()
                .map(|h| h.commit.as_str())
                .collect::<Vec<_>>(),
            ["c4"]
        );
        // Ada still wrote most of the last half.
        let stays = build(&[
            ("Ada", 100),
            ("Ada", 100),
            ("Ada", 100),
            ("Bob", 100),
            ("Bob", 100),
            ("Ada", 300),
        ]);
        assert_eq!(stays, []);
        // Five commits are too few to halve.
        let few = build(&[
            ("Ada", 100),
            ("Ada", 100),
            ("Bob", 100),
            ("Bob", 100),
            ("Bob", 100),
        ]);
        assert_eq!(few, []);
    }

    #[test]
    fn an_owner_gone_quiet_while_others_go_on_has_departed() {
        let departures = |ada_last_day: i64, later: &str| {
            let history = Builder::new()
                .commit("Ada", 0, "add", &[("src/a.rs", '+', 100, 0)])
                .commit("Ada", 10, "edit", &[("src/a.rs", 'M', 50, 0)])
                .commit("Ada", ada_last_day, "docs", &[("docs/a.md", '+', 1, 0)])
                .commit("Bob", 200, "add b", &[(later, '+', 10, 0)])
                .commit("Cy", 300, "edit a", &[(later, 'M', 5, 0)])
                .build();
            ownership(&history).departures
        };
        let [departed] = &departures(20, "src/b.rs")[..] else {
            panic!("one departure");
        };
        assert_eq!(departed.area, "src");
        assert_eq!(
            (departed.main.name.as_str(), departed.main.lines),
            ("Ada", 150)
        );
        // Her last commit anywhere (in docs), not her last in src.
        assert_eq!(
            (departed.last_commit.as_str(), departed.quiet_days),
            ("c3", 280)
        );
        assert_eq!(departed.main.last_commit, "c2");
        assert_eq!((departed.later_commits, departed.later_authors), (2, 2));
        assert_eq!(
            (
                departed.first_later_commit.as_str(),
                departed.last_later_commit.as_str()
            ),
            ("c4", "c5")
        );
        // Active 50 days before the end; exactly 180 days quiet is not more than 180.
        assert_eq!(departures(250, "src/b.rs"), []);
        assert_eq!(departures(120, "src/b.rs"), []);
        // Quiet, but nobody changed src after her.
        assert_eq!(departures(20, "lib/b.rs"), []);
    }
}

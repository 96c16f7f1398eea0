//! Hotspots: the files with the most churn, recent churn weighing more.
//!
//! A file's weighted churn is Σ (added + deleted) · 0.5^(age / half-life) over its commits,
//! with a half-life of [`HALF_LIFE_DAYS`] (180) days and each commit's age measured back from
//! the latest commit time of the history: a line changed 180 days before the end weighs half a
//! line changed at the end, one changed a year before it a quarter. Its raw churn is the same
//! sum unweighted.
//!
//! Files are lives that follow renames, as in [`ownership`](crate::ownership): a renamed file
//! keeps its churn and is reported under its path at the end, and the rename itself (the old
//! path's deletion, the new path's addition) is no churn. Files whose last change is a
//! deletion are left out: they are no longer there to be hot. Merge commits are not counted
//! (their changes were counted at the commits they merge); bots' commits are, as churn is
//! churn whoever makes it. Files with no line changes (binary files) have no churn and are not
//! listed.
//!
//! Lock files ([`is_lock_file`]: `Cargo.lock`, `package-lock.json`, `go.sum`, …) and
//! translation catalogs (`.po`, `.pot`) are left out ([`is_tool_written`]): tools write or
//! regenerate them, and their churn follows the manifests' or the messages' rather than
//! telling where the work is.
//!
//! The [`MAX_HOTSPOTS`] (20) files with the most weighted churn are reported (ties by raw churn,
//! then path).

use serde::Serialize;

use crate::History;
use crate::lineage::{latest_time, lineage};

/// The age at which a line changed counts half, in days.
pub const HALF_LIFE_DAYS: i64 = 180;
/// The most files reported.
pub const MAX_HOTSPOTS: usize = 20;

/// The hottest files of a history.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hotspots {
    pub half_life_days: i64,
    /// The time ages are measured from: the latest commit time (epoch seconds).
    pub latest_time: i64,
    /// How many files have churn and are still there (more than `files` lists when bounded).
    pub files_total: u32,
    /// Hottest first.
    pub files: Vec<Hotspot>,
}

/// One file's churn.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hotspot {
    /// Its path at the end.
    pub path: String,
    /// Lines added and deleted over its life, and their sum.
    pub added: u64,
    pub deleted: u64,
    pub churn: u64,
    /// The churn weighted by recency.
    pub weighted: f64,
    /// The commits that changed it.
    pub commits: u32,
    /// The last of them, and its time.
    pub last_commit: String,
    pub last_time: i64,
}

/// Lock files by name: what package managers write from the manifests.
pub const LOCK_FILES: &[&str] = &[
    "Cargo.lock",
    "Gemfile.lock",
    "Pipfile.lock",
    "composer.lock",
    "flake.lock",
    "go.sum",
    "gradle.lockfile",
    "mix.lock",
    "npm-shrinkwrap.json",
    "package-lock.json",
    "packages.lock.json",
    "pnpm-lock.yaml",
    "poetry.lock",
    "pubspec.lock",
    "uv.lock",
    "yarn.lock",
];

/// Whether a path's file name is one of [`LOCK_FILES`].
pub fn is_lock_file(path: &str) -> bool {
    LOCK_FILES.contains(&path.rsplit('/').next().unwrap_or(path))
}

/// Whether a tool writes or regenerates a file: a lock file or a gettext catalog.
pub fn is_tool_written(path: &str) -> bool {
    is_lock_file(path) || path.ends_with(".po") || path.ends_with(".pot")
}

/// The hottest files of `history` (see the module docs for the rule).
pub fn hotspots(history: &History) -> Hotspots {
    let lineage = lineage(history);
    let latest = latest_time(history);
    // Ages, half-lives and churn stay far below 2^53, where f64 holds every integer exactly.
    let half_life = (HALF_LIFE_DAYS * 86_400) as f64;

    #[derive(Clone, Copy, Default)]
    struct Acc {
        added: u64,
        deleted: u64,
        weighted: f64,
        commits: u32,
        last: usize,
    }
    let mut acc = vec![Acc::default(); lineage.lives.len()];
    for touch in &lineage.touches {
        let commit = &history.commits[touch.commit];
        let churn = touch.added + touch.deleted;
        let age = (latest - commit.time).max(0) as f64;
        let file = &mut acc[touch.life];
        file.added += touch.added;
        file.deleted += touch.deleted;
        file.weighted += churn as f64 * 0.5_f64.powf(age / half_life);
        file.commits += 1;
        file.last = touch.commit;
    }
    let mut files: Vec<Hotspot> = lineage
        .lives
        .iter()
        .zip(acc)
        .filter(|(life, acc)| {
            life.alive && acc.added + acc.deleted > 0 && !is_tool_written(history.path(life.path))
        })
        .map(|(life, acc)| Hotspot {
            path: history.path(life.path).to_owned(),
            added: acc.added,
            deleted: acc.deleted,
            churn: acc.added + acc.deleted,
            weighted: acc.weighted,
            commits: acc.commits,
            last_commit: history.commits[acc.last].id.clone(),
            last_time: history.commits[acc.last].time,
        })
        .collect();
    let files_total = u32::try_from(files.len()).unwrap_or(u32::MAX);
    files.sort_by(|a, b| {
        b.weighted
            .total_cmp(&a.weighted)
            .then(b.churn.cmp(&a.churn))
            .then_with(|| a.path.cmp(&b.path))
    });
    files.truncate(MAX_HOTSPOTS);
    Hotspots {
        half_life_days: HALF_LIFE_DAYS,
        latest_time: latest,
        files_total,
        files,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CommitLabels;
    use crate::testing::Builder;

    fn figures(hotspots: &Hotspots) -> Vec<(&str, u64, f64, u32, &str)> {
        hotspots
            .files
            .iter()
            .map(|h| {
                let path = h.path.as_str();
                (path, h.churn, h.weighted, h.commits, h.last_commit.as_str())
            })
            .collect()
    }

    #[test]
    fn lock_files_and_catalogs_are_no_hotspots() {
        let history = Builder::new()
            .commit(
                "Ada",
                0,
                "a",
                &[("Cargo.lock", '+', 500, 0), ("src/a.rs", '+', 5, 0)],
            )
            .commit(
                "Ada",
                1,
                "b",
                &[("web/yarn.lock", '+', 90, 0), ("src/a.rs", 'M', 1, 1)],
            )
            .commit(
                "Ada",
                2,
                "c",
                &[("po/de.po", '+', 900, 0), ("po/git.pot", '+', 9, 0)],
            )
            .build();
        let hot = hotspots(&history);
        let paths: Vec<&str> = hot.files.iter().map(|h| h.path.as_str()).collect();
        assert_eq!(paths, ["src/a.rs"]);
        assert!(is_lock_file("go.sum") && !is_lock_file("src/lock.rs"));
    }

    #[test]
    fn the_weight_halves_every_180_days() {
        let history = Builder::new()
            .commit("Ada", 0, "old", &[("old.rs", '+', 80, 20)])
            .commit("Ada", 180, "mid", &[("mid.rs", '+', 100, 0)])
            .commit("Ada", 360, "new", &[("new.rs", '+', 100, 0)])
            .build();
        let hotspots = hotspots(&history);
        assert_eq!(
            figures(&hotspots),
            [
                ("new.rs", 100, 100.0, 1, "c3"),
                ("mid.rs", 100, 50.0, 1, "c2"),
                ("old.rs", 100, 25.0, 1, "c1"),
            ]
        );
        assert_eq!(
            (hotspots.files[2].added, hotspots.files[2].deleted),
            (80, 20)
        );
        assert_eq!(hotspots.latest_time, history.commits[2].time);
        let json = serde_json::to_value(&hotspots).expect("serializes");
        assert_eq!(json["halfLifeDays"], 180);
        assert_eq!(json["files"][0]["lastCommit"], "c3");
    }

    #[test]
    fn recent_churn_outweighs_more_old_churn() {
        let history = Builder::new()
            .commit("Ada", 0, "big", &[("big.rs", '+', 1000, 0)])
            .commit("Ada", 360, "small", &[("small.rs", '+', 200, 100)])
            .commit("Ada", 360, "big", &[("big.rs", 'M', 1, 1)])
            .build();
        assert_eq!(
            figures(&hotspots(&history)),
            [
                ("small.rs", 300, 300.0, 1, "c2"),
                ("big.rs", 1002, 252.0, 2, "c3")
            ]
        );
    }

    #[test]
    fn deleted_files_merges_and_renames_are_not_churn() {
        let mut history = Builder::new()
            .commit(
                "Ada",
                0,
                "add",
                &[("a.rs", '+', 10, 0), ("gone.rs", '+', 500, 0)],
            )
            .labelled(
                "Ada",
                0,
                "move",
                &[("a.rs", '-', 0, 10), ("src/a.rs", '+', 10, 0)],
                &[("a.rs", "src/a.rs", 100)],
                CommitLabels::default(),
            )
            .commit("Ada", 0, "drop", &[("gone.rs", '-', 0, 500)])
            .commit("Ada", 0, "merge", &[("src/a.rs", 'M', 700, 0)])
            .commit("Ada", 0, "back", &[("back.rs", '+', 3, 0)])
            .commit("Ada", 0, "drop", &[("back.rs", '-', 0, 3)])
            .commit("Ada", 0, "again", &[("back.rs", '+', 1, 0)])
            .build();
        history.commits[3].merge = true;
        let hotspots = hotspots(&history);
        assert_eq!(
            figures(&hotspots),
            [
                ("src/a.rs", 10, 10.0, 1, "c1"),
                ("back.rs", 7, 7.0, 3, "c7")
            ]
        );
        assert_eq!(hotspots.files_total, 2);
    }

    #[test]
    fn twenty_files_are_listed() {
        let mut builder = Builder::new();
        for i in 1..=25 {
            let path = format!("f{i:02}.rs");
            builder = builder.commit("Ada", 0, "add", &[(path.as_str(), '+', i, 0)]);
        }
        let hotspots = hotspots(&builder.build());
        assert_eq!((hotspots.files_total, hotspots.files.len()), (25, 20));
        assert_eq!(hotspots.files[0].path, "f25.rs");
        assert_eq!(hotspots.files[19].path, "f06.rs");
    }
}

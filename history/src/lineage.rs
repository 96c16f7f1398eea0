//! Files as lives rather than paths: what ownership and hotspots count over.
//!
//! The records list a rename as a deletion of the old path and an addition of the new one
//! (`--no-renames`), with the rename itself in [`Commit::moves`](crate::Commit::moves). Counted
//! as it stands, moving a directory would make the mover the author of every line in it and
//! the moved files' hottest churn. So a file here is a life: it starts at the path it first
//! appears under and follows each detected rename to its new path. The two changes of a rename
//! (the old path's deletion and the new path's addition) are not counted at all: a move writes
//! nobody's lines. What a partial rename (similarity below 100 %) edited in the same commit is
//! lost with them; the extract stage detects renames at ≥ 50 % similarity.
//!
//! Merge commits are skipped: what a merge brings in was counted at the commits it merges, so
//! counting its diff again would count those lines twice. A path deleted and added again later
//! continues the same life.

use std::collections::{HashMap, HashSet};

use crate::{ChangeKind, History, PathId};

/// One file's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Life {
    /// The path it has at the end (its last rename's destination, or the path it began with).
    pub path: PathId,
    /// Its last change was not a deletion: it is still in the tree at the last commit.
    pub alive: bool,
}

/// One counted change: a commit's change to a file's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Touch {
    /// The index of the commit in [`History::commits`].
    pub commit: usize,
    /// The index of the life in [`Lineage::lives`].
    pub life: usize,
    pub added: u64,
    pub deleted: u64,
}

/// Every file life of a history, and every counted change in commit order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Lineage {
    pub lives: Vec<Life>,
    pub touches: Vec<Touch>,
}

/// The lives of `history`'s files and their changes (see the module docs for what counts).
pub(crate) fn lineage(history: &History) -> Lineage {
    let mut lineage = Lineage::default();
    // The life each current path belongs to.
    let mut current: HashMap<PathId, usize> = HashMap::new();
    let mut endpoints: HashSet<PathId> = HashSet::new();
    for (index, commit) in history.commits.iter().enumerate() {
        if commit.merge {
            continue;
        }
        endpoints.clear();
        for moved in &commit.moves {
            endpoints.insert(moved.from);
            endpoints.insert(moved.to);
            let life = match current.remove(&moved.from) {
                Some(life) => life,
                None => begin(&mut lineage.lives, moved.to),
            };
            lineage.lives[life] = Life {
                path: moved.to,
                alive: true,
            };
            // A file moved over another ends the other's life.
            if let Some(replaced) = current.insert(moved.to, life)
                && replaced != life
            {
                lineage.lives[replaced].alive = false;
            }
        }
        for change in &commit.changes {
            if endpoints.contains(&change.path) {
                continue;
            }
            let life = *current
                .entry(change.path)
                .or_insert_with(|| begin(&mut lineage.lives, change.path));
            lineage.lives[life].alive = change.kind != ChangeKind::Deleted;
            lineage.touches.push(Touch {
                commit: index,
                life,
                added: change.added,
                deleted: change.deleted,
            });
        }
    }
    lineage
}

fn begin(lives: &mut Vec<Life>, path: PathId) -> usize {
    lives.push(Life { path, alive: true });
    lives.len() - 1
}

/// The latest commit time of a history (0 for an empty one): the "now" that ages and gaps are
/// measured back from. The latest rather than the last walked, so one commit with a skewed
/// clock early in the walk cannot make the history end before it.
pub(crate) fn latest_time(history: &History) -> i64 {
    history.commits.iter().map(|c| c.time).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Builder;

    #[test]
    fn a_rename_continues_the_life_and_counts_no_lines() {
        let history = Builder::new()
            .commit("Ada", 0, "add", &[("src/a.rs", '+', 10, 0)])
            .labelled(
                "Bob",
                1,
                "move",
                &[("src/a.rs", '-', 0, 10), ("lib/a.rs", '+', 10, 0)],
                &[("src/a.rs", "lib/a.rs", 100)],
                crate::CommitLabels::default(),
            )
            .commit("Cy", 2, "edit", &[("lib/a.rs", 'M', 2, 1)])
            .commit("Cy", 3, "gone", &[("lib/b.rs", '+', 1, 0)])
            .commit("Cy", 4, "gone", &[("lib/b.rs", '-', 0, 1)])
            .build();
        let lineage = lineage(&history);
        assert_eq!(lineage.lives.len(), 2);
        assert_eq!(history.path(lineage.lives[0].path), "lib/a.rs");
        assert!(lineage.lives[0].alive);
        assert!(!lineage.lives[1].alive);
        let on_a: Vec<(usize, u64)> = lineage
            .touches
            .iter()
            .filter(|t| t.life == 0)
            .map(|t| (t.commit, t.added))
            .collect();
        assert_eq!(on_a, [(0, 10), (2, 2)]);
        assert_eq!(latest_time(&history), history.commits[4].time);
    }

    #[test]
    fn a_file_moved_over_another_ends_the_others_life() {
        let history = Builder::new()
            .commit("Ada", 0, "add", &[("a.rs", '+', 1, 0), ("b.rs", '+', 2, 0)])
            .labelled(
                "Ada",
                1,
                "replace",
                &[("a.rs", '-', 0, 1), ("b.rs", 'M', 1, 2)],
                &[("a.rs", "b.rs", 100)],
                crate::CommitLabels::default(),
            )
            .build();
        let lives = lineage(&history).lives;
        let ends: Vec<(&str, bool)> = lives
            .iter()
            .map(|l| (history.path(l.path), l.alive))
            .collect();
        assert_eq!(ends, [("b.rs", true), ("b.rs", false)]);
    }
}

//! Moves and mass renames, told as moves: never as one of the largest changes.
//!
//! The extract stage lists a rename twice, as git's `--no-renames` does (the old path deleted,
//! the new one added), and detects the rename itself separately (a [`Move`]). The *moved lines*
//! of a commit are the lines of those delete + add pairs: the `deleted` of the change that
//! deletes a move's `from` plus the `added` of the change that adds its `to`.
//!
//! - A commit is a **move commit** when it has at least one move and the deleted side of its
//!   moves holds at least [`MOVE_SHARE_PERCENT`] % of all the lines it deletes (a commit that
//!   only renames binary or empty files deletes no line and is a move commit too).
//! - [`moves`] groups the moves of move commits by directory: the longest common trailing
//!   components of the old and new path are dropped (at least the file name), and when that
//!   leaves one side empty one component is given back, so `src/a/b.rs → crates/core/src/a/b.rs`
//!   reads `src/ → crates/core/src/` and `lib/old/x.rs → lib/new/x.rs` reads
//!   `lib/old/ → lib/new/`. Groups are summed over the history: files, the lines the moved files
//!   held (deleted side) and the commits, largest first.
//! - [`largest_changes`] ranks non-merge commits by churn minus moved lines (of every commit,
//!   move commit or not), so a directory move no longer heads the milestones, and minus the
//!   lines of files a tool writes ([`is_tool_written`]: lock files, translation catalogs), so
//!   a regenerated catalog is no large change either.

use std::collections::HashMap;

use crate::history::{ChangeKind, Commit, History, Move};
use crate::hotspots::is_tool_written;

/// A commit is a move commit when its moves hold at least this share of its deleted lines.
pub const MOVE_SHARE_PERCENT: u64 = 50;

/// At most this many commit ids are listed as the evidence of a directory move.
pub const MOVE_COMMITS_LISTED: usize = 10;

/// What the moves of one commit amount to.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitMoves {
    /// The commit id.
    pub id: String,
    /// Renames detected in the commit.
    pub moves: usize,
    /// Lines the moved files held: the `deleted` of the changes deleting the moves' old paths.
    pub moved_deleted: u64,
    /// The `added` of the changes adding the moves' new paths.
    pub moved_added: u64,
    /// Every line the commit deletes.
    pub deleted: u64,
    /// The moves hold at least [`MOVE_SHARE_PERCENT`] % of the deleted lines.
    pub is_move: bool,
}

impl CommitMoves {
    /// Both sides of the moves' delete + add pairs: what [`largest_changes`] leaves out.
    pub fn moved_lines(&self) -> u64 {
        self.moved_deleted + self.moved_added
    }
}

/// A directory moved (or files moved from one directory to another), over all move commits.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MoveRecord {
    /// The old directory prefix, ending with `/` (empty for the root).
    pub from: String,
    /// The new directory prefix, ending with `/` (empty for the root).
    pub to: String,
    /// Files moved.
    pub files: usize,
    /// Lines the moved files held (the deleted side).
    pub lines: u64,
    /// The move commits, oldest first, at most [`MOVE_COMMITS_LISTED`].
    pub commits: Vec<String>,
    /// How many move commits moved files from `from` to `to`.
    pub commit_count: usize,
}

/// A commit ranked by its churn without moved lines.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LargeChange {
    pub id: String,
    /// Author time, seconds since the epoch.
    pub time: i64,
    pub subject: String,
    /// The author's name.
    pub author: String,
    /// Files the commit lists.
    pub files: usize,
    /// Lines added plus deleted.
    pub churn: u64,
    /// Lines of the moves' delete + add pairs.
    pub moved_lines: u64,
    /// `churn - moved_lines`, less the lines of files a tool writes: what it is ranked by.
    pub counted: u64,
    /// The commit is a move commit.
    pub is_move: bool,
}

/// One move with the lines of its delete + add pair.
struct MovedPair {
    mv: Move,
    deleted: u64,
    added: u64,
}

fn moved_pairs(commit: &Commit) -> Vec<MovedPair> {
    if commit.moves.is_empty() {
        return Vec::new();
    }
    let mut deleted = HashMap::new();
    let mut added = HashMap::new();
    for change in &commit.changes {
        match change.kind {
            ChangeKind::Deleted => {
                deleted.insert(change.path, change.deleted);
            }
            ChangeKind::Added => {
                added.insert(change.path, change.added);
            }
            ChangeKind::Modified => {}
        }
    }
    commit
        .moves
        .iter()
        .map(|mv| MovedPair {
            mv: *mv,
            deleted: deleted.get(&mv.from).copied().unwrap_or(0),
            added: added.get(&mv.to).copied().unwrap_or(0),
        })
        .collect()
}

fn classify(commit: &Commit, pairs: &[MovedPair]) -> CommitMoves {
    let deleted: u64 = commit.changes.iter().map(|c| c.deleted).sum();
    let moved_deleted: u64 = pairs.iter().map(|p| p.deleted).sum();
    CommitMoves {
        id: commit.id.clone(),
        moves: pairs.len(),
        moved_deleted,
        moved_added: pairs.iter().map(|p| p.added).sum(),
        deleted,
        is_move: !pairs.is_empty() && moved_deleted * 100 >= deleted * MOVE_SHARE_PERCENT,
    }
}

/// What the moves of a commit amount to, and whether it is a move commit.
pub fn commit_moves(commit: &Commit) -> CommitMoves {
    classify(commit, &moved_pairs(commit))
}

/// Whether the commit at `index` (in [`History::commits`]) is a move commit; false past the end.
pub fn is_move(history: &History, index: usize) -> bool {
    history
        .commits
        .get(index)
        .is_some_and(|commit| commit_moves(commit).is_move)
}

/// The directory prefixes a move is told by (see the module docs), each ending with `/` or
/// empty for the root.
pub fn move_prefixes<'a>(from: &'a str, to: &'a str) -> (&'a str, &'a str) {
    let from_parts = from.split('/').count();
    let to_parts = to.split('/').count();
    let common = from
        .rsplit('/')
        .zip(to.rsplit('/'))
        .take_while(|(a, b)| a == b)
        .count();
    let mut strip = common.max(1);
    if common >= 2 && (common == from_parts || common == to_parts) {
        strip = common - 1;
    }
    (strip_components(from, strip), strip_components(to, strip))
}

/// `path` without its last `n` (≥ 1) `/`-separated components, keeping the trailing `/`.
fn strip_components(path: &str, n: usize) -> &str {
    let mut end = path.len();
    for _ in 0..n {
        match path[..end].rfind('/') {
            Some(slash) => end = slash,
            None => return "",
        }
    }
    &path[..=end]
}

/// Directory moves of the move commits, largest first (lines, then files, then paths).
pub fn moves(history: &History) -> Vec<MoveRecord> {
    // Each group with the index of the last commit it counted.
    let mut groups: HashMap<(&str, &str), (MoveRecord, usize)> = HashMap::new();
    for (index, commit) in history.commits.iter().enumerate() {
        let pairs = moved_pairs(commit);
        if !classify(commit, &pairs).is_move {
            continue;
        }
        for pair in &pairs {
            let key = move_prefixes(history.path(pair.mv.from), history.path(pair.mv.to));
            let (record, last) = groups.entry(key).or_insert_with(|| {
                let record = MoveRecord {
                    from: key.0.to_owned(),
                    to: key.1.to_owned(),
                    files: 0,
                    lines: 0,
                    commits: Vec::new(),
                    commit_count: 0,
                };
                (record, usize::MAX)
            });
            record.files += 1;
            record.lines += pair.deleted;
            if *last != index {
                *last = index;
                record.commit_count += 1;
                if record.commits.len() < MOVE_COMMITS_LISTED {
                    record.commits.push(commit.id.clone());
                }
            }
        }
    }
    let mut records: Vec<MoveRecord> = groups.into_values().map(|(record, _)| record).collect();
    records.sort_by(|a, b| {
        b.lines
            .cmp(&a.lines)
            .then(b.files.cmp(&a.files))
            .then_with(|| a.from.cmp(&b.from))
            .then_with(|| a.to.cmp(&b.to))
    });
    records
}

/// The `n` largest non-merge commits by churn minus moved lines and the lines of files a tool
/// writes, largest first (ties: older first). Commits that count no line are left out.
pub fn largest_changes(history: &History, n: usize) -> Vec<LargeChange> {
    let mut ranked: Vec<(u64, usize, CommitMoves)> = history
        .commits
        .iter()
        .enumerate()
        .filter(|(_, commit)| !commit.merge)
        .filter_map(|(index, commit)| {
            let moved = commit_moves(commit);
            let tool_written: u64 = commit
                .changes
                .iter()
                .filter(|c| is_tool_written(history.path(c.path)))
                .map(|c| c.added + c.deleted)
                .sum();
            let counted = commit
                .churn()
                .saturating_sub(moved.moved_lines())
                .saturating_sub(tool_written);
            (counted > 0).then_some((counted, index, moved))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked
        .into_iter()
        .take(n)
        .map(|(counted, index, moved)| {
            let commit = &history.commits[index];
            LargeChange {
                id: commit.id.clone(),
                time: commit.time,
                subject: commit.subject.clone(),
                author: history.author_of(commit.author).name.clone(),
                files: commit.changes.len(),
                churn: commit.churn(),
                moved_lines: moved.moved_lines(),
                counted,
                is_move: moved.is_move,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CommitLabels;
    use crate::testing::Builder;

    fn moving(
        history: Builder,
        day: i64,
        files: &[(&str, char, u64, u64)],
        renames: &[(&str, &str, u8)],
    ) -> Builder {
        history.labelled(
            "Ada",
            day,
            "move things",
            files,
            renames,
            CommitLabels::default(),
        )
    }

    #[test]
    fn a_directory_move_is_a_move_and_not_among_the_largest_changes() {
        let builder = Builder::new()
            .commit(
                "Ada",
                0,
                "add the parser",
                &[
                    ("src/parser.rs", '+', 300, 0),
                    ("src/lexer.rs", '+', 200, 0),
                    ("README.md", '+', 10, 0),
                ],
            )
            .commit(
                "Bob",
                1,
                "rework the lexer",
                &[("src/lexer.rs", 'M', 40, 30)],
            );
        let mut history = moving(
            builder,
            2,
            &[
                ("Cargo.toml", '+', 5, 0),
                ("crates/core/src/lexer.rs", '+', 210, 0),
                ("crates/core/src/parser.rs", '+', 300, 0),
                ("src/lexer.rs", '-', 0, 210),
                ("src/parser.rs", '-', 0, 300),
            ],
            &[
                ("src/lexer.rs", "crates/core/src/lexer.rs", 100),
                ("src/parser.rs", "crates/core/src/parser.rs", 100),
            ],
        )
        .commit("Bob", 3, "write a guide", &[("docs/guide.md", '+', 100, 0)])
        .commit(
            "Bob",
            4,
            "merge the guide",
            &[("docs/guide.md", 'M', 900, 0)],
        )
        .build();
        history.commits[4].merge = true;

        let flags: Vec<bool> = (0..6).map(|i| is_move(&history, i)).collect();
        assert_eq!(flags, [false, false, true, false, false, false]);
        assert_eq!(
            commit_moves(&history.commits[2]),
            CommitMoves {
                id: "c3".into(),
                moves: 2,
                moved_deleted: 510,
                moved_added: 510,
                deleted: 510,
                is_move: true,
            }
        );
        assert_eq!(
            moves(&history),
            [MoveRecord {
                from: "src/".into(),
                to: "crates/core/src/".into(),
                files: 2,
                lines: 510,
                commits: vec!["c3".into()],
                commit_count: 1,
            }]
        );
        let top: Vec<(String, u64)> = largest_changes(&history, 3)
            .into_iter()
            .map(|c| (c.id, c.counted))
            .collect();
        assert_eq!(
            top,
            [("c1".into(), 510), ("c4".into(), 100), ("c2".into(), 70)]
        );
        // The move commit counts only its Cargo.toml; the merge is never ranked.
        let all = largest_changes(&history, 10);
        assert_eq!(all.len(), 4);
        assert_eq!(
            all[3],
            LargeChange {
                id: "c3".into(),
                time: history.commits[2].time,
                subject: "move things".into(),
                author: "Ada".into(),
                files: 5,
                churn: 1025,
                moved_lines: 1020,
                counted: 5,
                is_move: true,
            }
        );
    }

    #[test]
    fn catalogs_and_lock_files_do_not_make_a_large_change() {
        let history = Builder::new()
            .commit("Ada", 0, "code", &[("src/a.rs", '+', 300, 0)])
            .commit(
                "Bob",
                1,
                "l10n: de: round 1",
                &[("po/de.po", 'M', 9000, 8000), ("src/a.rs", 'M', 2, 1)],
            )
            .commit("Cy", 2, "lock", &[("Cargo.lock", 'M', 500, 500)])
            .build();
        let top: Vec<(String, u64)> = largest_changes(&history, 3)
            .into_iter()
            .map(|c| (c.id, c.counted))
            .collect();
        assert_eq!(top, [("c1".into(), 300), ("c2".into(), 3)]);
    }

    #[test]
    fn a_move_commit_needs_half_of_its_deleted_lines_moved() {
        let setup = || {
            Builder::new().commit(
                "Ada",
                0,
                "start",
                &[
                    ("lib/a.rs", '+', 50, 0),
                    ("lib/b.rs", '+', 60, 0),
                    ("lib/c.rs", '+', 49, 0),
                ],
            )
        };
        // 50 of 100 deleted lines moved: a move commit.
        let half = moving(
            setup(),
            1,
            &[
                ("lib/a.rs", '-', 0, 50),
                ("lib/b.rs", 'M', 0, 50),
                ("src/a.rs", '+', 50, 0),
            ],
            &[("lib/a.rs", "src/a.rs", 100)],
        )
        .build();
        assert!(is_move(&half, 1));
        assert_eq!(moves(&half)[0].from, "lib/");
        // 49 of 100: not a move commit, and its moves are not told.
        let less = moving(
            setup(),
            1,
            &[
                ("lib/b.rs", 'M', 0, 51),
                ("lib/c.rs", '-', 0, 49),
                ("src/c.rs", '+', 49, 0),
            ],
            &[("lib/c.rs", "src/c.rs", 100)],
        )
        .build();
        assert!(!is_move(&less, 1));
        assert_eq!(moves(&less), []);
        // Its moved lines still do not count as change: 51 lines of the edit remain.
        assert_eq!(largest_changes(&less, 2)[1].counted, 51);
        // A rename of binary files deletes no line: a move commit.
        let binary = moving(
            Builder::new().commit("Ada", 0, "logo", &[("img/logo.png", '+', 0, 0)]),
            1,
            &[("assets/logo.png", '+', 0, 0), ("img/logo.png", '-', 0, 0)],
            &[("img/logo.png", "assets/logo.png", 100)],
        )
        .build();
        assert!(is_move(&binary, 1));
        assert!(!is_move(&binary, 0));
        assert!(!is_move(&binary, 2));
    }

    #[test]
    fn moves_are_grouped_by_directory_over_commits() {
        let history = Builder::new()
            .commit(
                "Ada",
                0,
                "start",
                &[
                    ("old/x.rs", '+', 10, 0),
                    ("old/y.rs", '+', 20, 0),
                    ("a.txt", '+', 1, 0),
                ],
            )
            .labelled(
                "Ada",
                1,
                "move x",
                &[("new/x.rs", '+', 10, 0), ("old/x.rs", '-', 0, 10)],
                &[("old/x.rs", "new/x.rs", 100)],
                CommitLabels::default(),
            )
            .labelled(
                "Ada",
                2,
                "move y and a",
                &[
                    ("a.txt", '-', 0, 1),
                    ("new/y.rs", '+', 20, 0),
                    ("old/y.rs", '-', 0, 20),
                    ("txt/a.txt", '+', 1, 0),
                ],
                &[("old/y.rs", "new/y.rs", 90), ("a.txt", "txt/a.txt", 100)],
                CommitLabels::default(),
            )
            .build();
        let told: Vec<(String, String, usize, u64, Vec<String>, usize)> = moves(&history)
            .into_iter()
            .map(|m| (m.from, m.to, m.files, m.lines, m.commits, m.commit_count))
            .collect();
        assert_eq!(
            told,
            [
                (
                    "old/".into(),
                    "new/".into(),
                    2,
                    30,
                    vec!["c2".into(), "c3".into()],
                    2
                ),
                ("".into(), "txt/".into(), 1, 1, vec!["c3".into()], 1),
            ]
        );
    }

    #[test]
    fn move_prefixes_name_the_directories() {
        let cases = [
            (
                "src/lib.rs",
                "crates/core/src/lib.rs",
                ("src/", "crates/core/src/"),
            ),
            (
                "src/a/b.rs",
                "crates/core/src/a/b.rs",
                ("src/", "crates/core/src/"),
            ),
            (
                "crates/core/src/lib.rs",
                "src/lib.rs",
                ("crates/core/src/", "src/"),
            ),
            ("lib/old/x.rs", "lib/new/x.rs", ("lib/old/", "lib/new/")),
            ("src/foo.rs", "src/bar.rs", ("src/", "src/")),
            ("a.rs", "lib/a.rs", ("", "lib/")),
            ("a.rs", "b.rs", ("", "")),
        ];
        for (from, to, expected) in cases {
            assert_eq!(move_prefixes(from, to), expected, "{from} → {to}");
        }
    }
}

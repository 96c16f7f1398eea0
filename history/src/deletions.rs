//! The story of deletions: the largest files removed, the directories retired, and the
//! top-level directories born and retired over time.
//!
//! One walk over the history, oldest first, keeps which paths exist (added or modified and not
//! deleted since) and, for every directory prefix of them, how many files it holds. Within a
//! commit the additions are applied before the deletions, so a directory whose files are
//! replaced in one commit is never taken for empty. A file deleted by a rename (the `from` of a
//! [`Move`](crate::history::Move) of the same commit) is moved, not deleted: it is never a
//! deletion here (see [`crate::moves`]).
//!
//! - **Deleted files** are ranked by the lines the deleting commit deleted (ties: older first,
//!   then path); `restored` tells a path that exists again at the end.
//! - A **retired directory** held files at some point and holds none at the end, and more of
//!   its files left it by deletion than by moves out of it (otherwise it moved: [`crate::moves`]
//!   tells it). Only the shallowest are reported: one whose parent directory is retired too is
//!   left out. Each names the commit of its first file and the one that removed its last file,
//!   the distinct files it held, the most lines it held at once and the lines its deletions
//!   removed; ranked by those lines, then files, then path.
//! - A **replacement** is what the deleting (or retiring) commit added, where the history shows
//!   it: among the files the commit added that are not a rename's target, the first that
//!   matches in this order: a *similar name* (same stem, or one stem holds the other with at
//!   least [`SIMILAR_STEM_MIN`] letters; stems are the last component up to its first `.`,
//!   lower-cased, letters and digits only), the *same directory*, a *sibling directory* (the
//!   two directories share a parent, the root included), else any file *added together*; within a basis the most added lines,
//!   then the path. For a directory the candidates are the added files' directories at its
//!   depth (their lines and files summed), outside it, judged by similar name, then sibling
//!   directory (same parent), then added together.
//! - **Areas** (top-level directories; root files are none) in order of birth: the commit of
//!   their first file, and when they hold no file at the end the commit that removed the last
//!   one and whether most of their files were deleted or moved away.

use std::collections::{HashMap, HashSet};

use crate::history::{ChangeKind, Commit, History, PathId};

/// Two stems are similar when equal, or when one holds the other and the shorter has at least
/// this many characters.
pub const SIMILAR_STEM_MIN: usize = 4;

/// The largest removals of a history.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deletions {
    /// The largest file deletions, largest first.
    pub files: Vec<FileDeletion>,
    /// The largest retired directories (shallowest only), largest first.
    pub directories: Vec<RetiredDirectory>,
    /// Every top-level directory, in order of birth.
    pub areas: Vec<AreaLife>,
}

/// A file deleted (not moved).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileDeletion {
    pub path: String,
    /// The deleting commit.
    pub commit: String,
    pub time: i64,
    /// Lines the deleting commit deleted from it.
    pub lines: u64,
    /// The path exists again at the end of the history.
    pub restored: bool,
    /// What the deleting commit added in its place, if anything.
    pub replacement: Option<Replacement>,
}

/// A directory that held files and holds none at the end.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetiredDirectory {
    /// The directory, without a trailing `/`.
    pub path: String,
    /// Distinct files it ever held.
    pub files: usize,
    /// The most lines it held at once.
    pub peak_lines: u64,
    /// Lines its file deletions removed.
    pub deleted_lines: u64,
    /// The commit of its first file.
    pub first_commit: String,
    pub first_time: i64,
    /// The commit that removed its last file.
    pub last_commit: String,
    pub last_time: i64,
    /// What the retiring commit added in its place, if anything.
    pub replacement: Option<Replacement>,
}

/// A path (a file, or a directory for a retired directory) added by the same commit.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Replacement {
    pub path: String,
    /// Lines added to it by the commit.
    pub lines: u64,
    /// Files added to it by the commit (1 for a file).
    pub files: usize,
    pub basis: Basis,
}

/// Why an added path is taken for the replacement, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Basis {
    SimilarName,
    SameDirectory,
    SiblingDirectory,
    AddedTogether,
}

/// How a directory came to hold no file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Removal {
    /// More of its files were deleted than moved out.
    Deleted,
    /// More of its files were moved out than deleted.
    Moved,
}

/// A top-level directory's life.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AreaLife {
    pub area: String,
    /// Distinct files it ever held.
    pub files: usize,
    /// The commit of its first file.
    pub born_commit: String,
    pub born_time: i64,
    /// The commit that removed its last file, when it holds none at the end.
    pub retired_commit: Option<String>,
    pub retired_time: Option<i64>,
    pub removal: Option<Removal>,
}

/// A directory prefix's state during the walk.
#[derive(Debug)]
struct Dir {
    path: String,
    parent: Option<usize>,
    depth: usize,
    live_files: u64,
    files: usize,
    live_lines: i64,
    peak_lines: i64,
    first: usize,
    emptied: Option<usize>,
    deleted_files: u64,
    moved_files: u64,
    deleted_lines: u64,
}

/// Directory prefixes, interned, with each path's ancestors cached.
#[derive(Debug, Default)]
struct Dirs {
    dirs: Vec<Dir>,
    ids: HashMap<String, usize>,
    /// Per path id: its ancestors, nearest last (computed on first sight).
    ancestors: Vec<Option<Vec<usize>>>,
}

impl Dirs {
    fn ancestors(&mut self, history: &History, path: PathId, commit: usize) -> Vec<usize> {
        let slot = path.0 as usize;
        if self.ancestors.len() <= slot {
            self.ancestors.resize(slot + 1, None);
        }
        if let Some(known) = &self.ancestors[slot] {
            return known.clone();
        }
        let text = history.path(path);
        let mut chain = Vec::new();
        let mut parent = None;
        for (end, _) in text.match_indices('/') {
            let dir = &text[..end];
            let id = match self.ids.get(dir) {
                Some(id) => *id,
                None => {
                    let id = self.dirs.len();
                    self.dirs.push(Dir {
                        path: dir.to_owned(),
                        parent,
                        depth: chain.len() + 1,
                        live_files: 0,
                        files: 0,
                        live_lines: 0,
                        peak_lines: 0,
                        first: commit,
                        emptied: None,
                        deleted_files: 0,
                        moved_files: 0,
                        deleted_lines: 0,
                    });
                    self.ids.insert(dir.to_owned(), id);
                    id
                }
            };
            chain.push(id);
            parent = Some(id);
        }
        self.ancestors[slot] = Some(chain.clone());
        chain
    }
}

/// The parent directory of a path (`""` at the root).
fn parent_of(path: &str) -> &str {
    path.rfind('/').map_or("", |slash| &path[..slash])
}

/// The stem a similar name is judged by (see the module docs).
fn stem(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    let name = name
        .split('.')
        .find(|part| !part.is_empty())
        .unwrap_or(name);
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn similar(a: &str, b: &str) -> bool {
    let (a, b) = (stem(a), stem(b));
    if a.is_empty() || b.is_empty() {
        return false;
    }
    let (short, long) = if a.len() <= b.len() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    short == long || short.len() >= SIMILAR_STEM_MIN && long.contains(short.as_str())
}

/// Two different, non-root directories with the same parent.
fn siblings(a: &str, b: &str) -> bool {
    !a.is_empty() && !b.is_empty() && a != b && parent_of(a) == parent_of(b)
}

/// The best of `candidates` (path, lines, files) as the replacement of `removed`, a file or
/// (`directory`) a directory.
fn best_replacement(
    removed: &str,
    directory: bool,
    candidates: Vec<(String, u64, usize)>,
) -> Option<Replacement> {
    candidates
        .into_iter()
        .map(|(path, lines, files)| {
            let basis = if similar(removed, &path) {
                Basis::SimilarName
            } else if directory && siblings(removed, &path) {
                Basis::SiblingDirectory
            } else if directory {
                Basis::AddedTogether
            } else if parent_of(&path) == parent_of(removed) {
                Basis::SameDirectory
            } else if siblings(parent_of(&path), parent_of(removed)) {
                Basis::SiblingDirectory
            } else {
                Basis::AddedTogether
            };
            Replacement {
                path,
                lines,
                files,
                basis,
            }
        })
        .min_by(|a, b| {
            a.basis
                .cmp(&b.basis)
                .then(b.lines.cmp(&a.lines))
                .then_with(|| a.path.cmp(&b.path))
        })
}

/// The files a commit added that are not a rename's target: (path, lines).
fn added_files<'h>(history: &'h History, commit: &Commit) -> Vec<(&'h str, u64)> {
    let targets: HashSet<PathId> = commit.moves.iter().map(|m| m.to).collect();
    commit
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Added && !targets.contains(&c.path))
        .map(|c| (history.path(c.path), c.added))
        .collect()
}

fn file_replacement(history: &History, commit: &Commit, removed: &str) -> Option<Replacement> {
    let candidates = added_files(history, commit)
        .into_iter()
        .map(|(path, lines)| (path.to_owned(), lines, 1))
        .collect();
    best_replacement(removed, false, candidates)
}

fn directory_replacement(history: &History, commit: &Commit, dir: &Dir) -> Option<Replacement> {
    let inside = format!("{}/", dir.path);
    let mut grouped: HashMap<&str, (u64, usize)> = HashMap::new();
    for (path, lines) in added_files(history, commit) {
        if path.starts_with(&inside) {
            continue;
        }
        // The added file's directory at the retired one's depth (none when shallower).
        let Some((end, _)) = path.match_indices('/').nth(dir.depth - 1) else {
            continue;
        };
        let cut = &path[..end];
        let entry = grouped.entry(cut).or_default();
        entry.0 += lines;
        entry.1 += 1;
    }
    let candidates = grouped
        .into_iter()
        .map(|(path, (lines, files))| (path.to_owned(), lines, files))
        .collect();
    best_replacement(&dir.path, true, candidates)
}

/// The `n` largest file deletions and retired directories, and every area's life.
pub fn deletions(history: &History, n: usize) -> Deletions {
    let mut dirs = Dirs::default();
    let mut live: Vec<bool> = Vec::new();
    let mut seen: Vec<bool> = Vec::new();
    // (lines, commit index, change index) of every deletion that is not a move.
    let mut deleted: Vec<(u64, usize, usize)> = Vec::new();
    for (index, commit) in history.commits.iter().enumerate() {
        let moved: HashMap<PathId, PathId> = commit.moves.iter().map(|m| (m.from, m.to)).collect();
        let additions_first = commit
            .changes
            .iter()
            .enumerate()
            .filter(|(_, c)| c.kind != ChangeKind::Deleted)
            .chain(
                commit
                    .changes
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.kind == ChangeKind::Deleted),
            );
        for (position, change) in additions_first {
            let slot = change.path.0 as usize;
            if live.len() <= slot {
                live.resize(slot + 1, false);
                seen.resize(slot + 1, false);
            }
            let chain = dirs.ancestors(history, change.path, index);
            let first_sight = !seen[slot];
            seen[slot] = true;
            let delta = i64::try_from(change.added).unwrap_or(i64::MAX)
                - i64::try_from(change.deleted).unwrap_or(i64::MAX);
            let was_live = live[slot];
            let deleting = change.kind == ChangeKind::Deleted;
            live[slot] = !deleting;
            let moved_to = moved.get(&change.path).map(|to| history.path(*to));
            if deleting && moved_to.is_none() {
                deleted.push((change.deleted, index, position));
            }
            for &id in &chain {
                let dir = &mut dirs.dirs[id];
                if first_sight {
                    dir.files += 1;
                }
                dir.live_lines = dir.live_lines.saturating_add(delta).max(0);
                dir.peak_lines = dir.peak_lines.max(dir.live_lines);
                if !deleting {
                    if !was_live {
                        dir.live_files += 1;
                    }
                    continue;
                }
                if was_live {
                    dir.live_files -= 1;
                }
                if dir.live_files == 0 {
                    dir.emptied = Some(index);
                }
                match moved_to {
                    None => {
                        dir.deleted_files += 1;
                        dir.deleted_lines += change.deleted;
                    }
                    Some(to) => {
                        let stays = to.len() > dir.path.len()
                            && to.starts_with(dir.path.as_str())
                            && to.as_bytes()[dir.path.len()] == b'/';
                        if !stays {
                            dir.moved_files += 1;
                        }
                    }
                }
            }
        }
    }
    Deletions {
        files: largest_deletions(history, deleted, &live, n),
        directories: retired(history, &dirs.dirs, n),
        areas: areas(history, &dirs.dirs),
    }
}

fn largest_deletions(
    history: &History,
    mut deleted: Vec<(u64, usize, usize)>,
    live: &[bool],
    n: usize,
) -> Vec<FileDeletion> {
    let path_of = |&(_, commit, change): &(u64, usize, usize)| {
        history.path(history.commits[commit].changes[change].path)
    };
    deleted.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(a.1.cmp(&b.1))
            .then_with(|| path_of(a).cmp(path_of(b)))
    });
    deleted
        .into_iter()
        .take(n)
        .map(|(lines, index, position)| {
            let commit = &history.commits[index];
            let change = commit.changes[position];
            let path = history.path(change.path);
            FileDeletion {
                path: path.to_owned(),
                commit: commit.id.clone(),
                time: commit.time,
                lines,
                restored: live[change.path.0 as usize],
                replacement: file_replacement(history, commit, path),
            }
        })
        .collect()
}

fn is_retired(dir: &Dir) -> bool {
    dir.live_files == 0
        && dir.files > 0
        && dir.emptied.is_some()
        && dir.deleted_files > 0
        && dir.deleted_files >= dir.moved_files
}

fn retired(history: &History, dirs: &[Dir], n: usize) -> Vec<RetiredDirectory> {
    let mut shallowest: Vec<&Dir> = dirs
        .iter()
        .filter(|dir| is_retired(dir))
        .filter(|dir| !dir.parent.is_some_and(|parent| is_retired(&dirs[parent])))
        .collect();
    shallowest.sort_by(|a, b| {
        b.deleted_lines
            .cmp(&a.deleted_lines)
            .then(b.files.cmp(&a.files))
            .then_with(|| a.path.cmp(&b.path))
    });
    shallowest
        .into_iter()
        .take(n)
        .filter_map(|dir| {
            let last = &history.commits[dir.emptied?];
            let first = &history.commits[dir.first];
            Some(RetiredDirectory {
                path: dir.path.clone(),
                files: dir.files,
                peak_lines: u64::try_from(dir.peak_lines).unwrap_or(0),
                deleted_lines: dir.deleted_lines,
                first_commit: first.id.clone(),
                first_time: first.time,
                last_commit: last.id.clone(),
                last_time: last.time,
                replacement: directory_replacement(history, last, dir),
            })
        })
        .collect()
}

fn areas(history: &History, dirs: &[Dir]) -> Vec<AreaLife> {
    let mut tops: Vec<&Dir> = dirs.iter().filter(|dir| dir.depth == 1).collect();
    tops.sort_by(|a, b| a.first.cmp(&b.first).then_with(|| a.path.cmp(&b.path)));
    tops.into_iter()
        .map(|dir| {
            let born = &history.commits[dir.first];
            let retired = dir
                .emptied
                .filter(|_| dir.live_files == 0)
                .map(|index| &history.commits[index]);
            AreaLife {
                area: dir.path.clone(),
                files: dir.files,
                born_commit: born.id.clone(),
                born_time: born.time,
                retired_commit: retired.map(|c| c.id.clone()),
                retired_time: retired.map(|c| c.time),
                removal: retired.map(|_| {
                    if dir.moved_files > dir.deleted_files {
                        Removal::Moved
                    } else {
                        Removal::Deleted
                    }
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CommitLabels;
    use crate::testing::Builder;

    fn replacement(path: &str, lines: u64, files: usize, basis: Basis) -> Option<Replacement> {
        Some(Replacement {
            path: path.into(),
            lines,
            files,
            basis,
        })
    }

    /// A file deletion as (path, commit, lines, replacement, basis).
    type Told<'a> = (&'a str, &'a str, u64, Option<&'a str>, Option<Basis>);

    fn told(deletions: &Deletions) -> Vec<Told<'_>> {
        deletions
            .files
            .iter()
            .map(|f| {
                let r = f.replacement.as_ref();
                (
                    f.path.as_str(),
                    f.commit.as_str(),
                    f.lines,
                    r.map(|r| r.path.as_str()),
                    r.map(|r| r.basis),
                )
            })
            .collect()
    }

    fn legacy_history() -> History {
        Builder::new()
            .commit(
                "Ada",
                0,
                "start",
                &[
                    ("legacy/a.rs", '+', 100, 0),
                    ("legacy/sub/b.rs", '+', 50, 0),
                    ("old/x.rs", '+', 30, 0),
                    ("src/main.rs", '+', 20, 0),
                ],
            )
            .commit("Bob", 1, "grow a", &[("legacy/a.rs", 'M', 30, 10)])
            .commit("Ada", 2, "drop b", &[("legacy/sub/b.rs", '-', 0, 50)])
            .commit(
                "Bob",
                3,
                "replace legacy with engine",
                &[
                    ("engine/core.rs", '+', 80, 0),
                    ("legacy/a.rs", '-', 0, 120),
                    ("src/x.rs", '+', 5, 0),
                ],
            )
            .labelled(
                "Ada",
                4,
                "move old to new",
                &[("new/x.rs", '+', 30, 0), ("old/x.rs", '-', 0, 30)],
                &[("old/x.rs", "new/x.rs", 100)],
                CommitLabels::default(),
            )
            .build()
    }

    #[test]
    fn a_removed_directory_is_retired_with_its_last_commit() {
        let history = legacy_history();
        let found = deletions(&history, 10);
        let day = |d: i64| history.commits[0].time + d * 86_400;
        // legacy/sub is retired too, but inside legacy; old moved away: not retired.
        assert_eq!(
            found.directories,
            [RetiredDirectory {
                path: "legacy".into(),
                files: 2,
                peak_lines: 170,
                deleted_lines: 170,
                first_commit: "c1".into(),
                first_time: day(0),
                last_commit: "c4".into(),
                last_time: day(3),
                replacement: replacement("engine", 80, 1, Basis::SiblingDirectory),
            }]
        );
        // The moved old/x.rs is no deletion.
        assert_eq!(
            told(&found),
            [
                (
                    "legacy/a.rs",
                    "c4",
                    120,
                    Some("engine/core.rs"),
                    Some(Basis::SiblingDirectory)
                ),
                ("legacy/sub/b.rs", "c3", 50, None, None),
            ]
        );
        assert_eq!(deletions(&history, 1).files.len(), 1);
    }

    #[test]
    fn areas_are_born_and_retired_by_deletion_or_move() {
        let history = legacy_history();
        let found = deletions(&history, 0);
        type Life<'a> = (&'a str, usize, &'a str, Option<&'a str>, Option<Removal>);
        let lives: Vec<Life<'_>> = found
            .areas
            .iter()
            .map(|a| {
                (
                    a.area.as_str(),
                    a.files,
                    a.born_commit.as_str(),
                    a.retired_commit.as_deref(),
                    a.removal,
                )
            })
            .collect();
        assert_eq!(
            lives,
            [
                ("legacy", 2, "c1", Some("c4"), Some(Removal::Deleted)),
                ("old", 1, "c1", Some("c5"), Some(Removal::Moved)),
                ("src", 2, "c1", None, None),
                ("engine", 1, "c4", None, None),
                ("new", 1, "c5", None, None),
            ]
        );
        assert_eq!(found.areas[1].retired_time, Some(history.commits[4].time));
        assert_eq!(found.files, []);
        assert_eq!(found.directories, []);
    }

    #[test]
    fn a_file_replaced_by_a_similar_name_shows_its_replacement() {
        let history = Builder::new()
            .commit(
                "Ada",
                0,
                "start",
                &[
                    ("docs/a.md", '+', 10, 0),
                    ("lib/parser.js", '+', 400, 0),
                    ("lib/util.js", '+', 50, 0),
                ],
            )
            .commit("Ada", 1, "grow", &[("lib/parser.js", 'M', 20, 0)])
            .commit(
                "Bob",
                2,
                "port the parser to TypeScript",
                &[
                    ("lib/parser.js", '-', 0, 420),
                    ("lib/util.js", '-', 0, 50),
                    ("src/big.ts", '+', 900, 0),
                    ("src/Parser.ts", '+', 380, 0),
                ],
            )
            .commit("Bob", 3, "drop the docs", &[("docs/a.md", '-', 0, 10)])
            .commit(
                "Bob",
                4,
                "bring a shim back",
                &[("lib/parser.js", '+', 5, 0)],
            )
            .build();
        let found = deletions(&history, 10);
        assert_eq!(
            found.files[0],
            FileDeletion {
                path: "lib/parser.js".into(),
                commit: "c3".into(),
                time: history.commits[2].time,
                lines: 420,
                restored: true,
                replacement: replacement("src/Parser.ts", 380, 1, Basis::SimilarName),
            }
        );
        assert_eq!(
            told(&found)[1..],
            [
                (
                    "lib/util.js",
                    "c3",
                    50,
                    Some("src/big.ts"),
                    Some(Basis::SiblingDirectory)
                ),
                ("docs/a.md", "c4", 10, None, None),
            ]
        );
        assert!(!found.files[1].restored);
        // lib was emptied in c3 but holds a file again at the end.
        let retired: Vec<&str> = found.directories.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(retired, ["docs"]);
    }

    #[test]
    fn replacements_prefer_the_same_directory_then_anything_added_together() {
        let history = Builder::new()
            .commit("Ada", 0, "start", &[("src/old.rs", '+', 10, 0)])
            .commit(
                "Ada",
                1,
                "swap",
                &[
                    ("other/deep/bigger.rs", '+', 100, 0),
                    ("src/fresh.rs", '+', 3, 0),
                    ("src/old.rs", '-', 0, 10),
                ],
            )
            .commit(
                "Ada",
                2,
                "swap again",
                &[
                    ("other/deep/next.rs", '+', 7, 0),
                    ("src/fresh.rs", '-', 0, 3),
                ],
            )
            .build();
        let found = deletions(&history, 10);
        assert_eq!(
            told(&found),
            [
                (
                    "src/old.rs",
                    "c2",
                    10,
                    Some("src/fresh.rs"),
                    Some(Basis::SameDirectory)
                ),
                (
                    "src/fresh.rs",
                    "c3",
                    3,
                    Some("other/deep/next.rs"),
                    Some(Basis::AddedTogether)
                ),
            ]
        );
        // src is retired in c3; what came instead is other (a sibling at the root).
        assert_eq!(found.directories.len(), 1);
        assert_eq!(
            found.directories[0].replacement,
            replacement("other", 7, 1, Basis::SiblingDirectory)
        );
    }

    #[test]
    fn similar_names_share_a_stem() {
        assert!(similar("lib/parser.js", "src/Parser.ts"));
        assert!(similar("src/legacy_parser.rs", "src/parser.rs"));
        assert!(!similar("src/ab.rs", "src/abc.rs"));
        assert!(similar("src/ab.rs", "test/ab.py"));
        assert!(!similar("src/.rs", "src/x.rs"));
    }
}

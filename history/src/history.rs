//! The input of every analysis: a history in walk order (oldest first), paths and authors
//! interned.

use std::collections::HashMap;

use gitview_core::records::{CommitRecord, FileStatus};
use gitview_core::time::epoch_seconds;

use crate::manifests::DependencyChanges;

/// An interned path: an index into [`History::paths`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PathId(pub u32);

/// An interned author: an index into [`History::authors`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AuthorId(pub u32);

/// An author: the canonical (mailmapped) identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Author {
    /// The name as recorded (mailmap applied).
    pub name: String,
    /// What tells authors apart: the canonical email, lower-cased (hashed when scrubbed).
    pub key: String,
    /// The enrich stage took the author for a bot.
    pub bot: bool,
}

/// What happened to a path in a commit (`git log --name-status --no-renames`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Deleted,
    Modified,
}

/// One file of a commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    pub path: PathId,
    pub kind: ChangeKind,
    /// Lines added and deleted; 0 for binary files.
    pub added: u64,
    pub deleted: u64,
}

/// A rename the extract stage detected (exact or ≥ 50 % similar).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Move {
    pub from: PathId,
    pub to: PathId,
    /// Similarity of the contents in percent.
    pub similarity: u8,
}

/// The labels the enrich stage gives a commit, in their stored (JSON) spelling, so the same
/// analyses run over records read back from the gateway.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitLabels {
    /// `feature`, `fix`, `refactor`, `docs`, `test`, `build`, `chore` or `revert`.
    pub class: String,
    /// The conventional-commit scope (`feat(parser): …` → `parser`), lower-cased.
    pub scope: Option<String>,
    /// Ticket, issue and pull/merge-request references as written (`#123`, `ABC-12`).
    pub references: Vec<String>,
    /// The author looks like a bot.
    pub bot: bool,
    /// What the commit changed in its dependency manifests (the enrichment's `dependencies`).
    pub dependencies: DependencyChanges,
}

/// One commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    /// Full hex object id.
    pub id: String,
    /// Author time, seconds since the epoch (0 when git's raw form could not be read).
    pub time: i64,
    pub author: AuthorId,
    /// The first line of the message.
    pub subject: String,
    pub merge: bool,
    pub class: String,
    /// The conventional-commit scope, or without one the subject's first `area:` prefix
    /// ([`crate::subjects::scope_of`]: `builtin/add: fix …` → `builtin/add`), lower-cased.
    pub scope: Option<String>,
    pub references: Vec<String>,
    /// In git's path order.
    pub changes: Vec<Change>,
    pub moves: Vec<Move>,
    /// Dependencies the commit added to and removed from its manifests.
    pub dependencies: DependencyChanges,
}

impl Commit {
    /// Lines added plus lines deleted.
    pub fn churn(&self) -> u64 {
        self.changes.iter().map(|c| c.added + c.deleted).sum()
    }
}

/// A history, oldest commit first, with its paths and authors interned.
#[derive(Clone, Debug, Default)]
pub struct History {
    pub commits: Vec<Commit>,
    paths: Vec<String>,
    path_ids: HashMap<String, PathId>,
    authors: Vec<Author>,
    author_ids: HashMap<String, AuthorId>,
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the next commit (after every commit already pushed).
    pub fn push(&mut self, record: &CommitRecord, labels: CommitLabels) {
        let identity = record.author.canonical.as_ref();
        let name = identity.map_or(&record.author.name, |c| &c.name);
        let key = identity
            .map_or(&record.author.email, |c| &c.email)
            .to_lowercase();
        let author = self.author(name, key, labels.bot);
        let changes = record
            .files
            .iter()
            .map(|file| Change {
                path: self.intern(&file.path),
                kind: match file.status {
                    FileStatus::Added => ChangeKind::Added,
                    FileStatus::Deleted => ChangeKind::Deleted,
                    FileStatus::Modified | FileStatus::TypeChanged => ChangeKind::Modified,
                },
                added: file.added.unwrap_or(0),
                deleted: file.deleted.unwrap_or(0),
            })
            .collect();
        let moves = record
            .renames
            .iter()
            .map(|rename| Move {
                from: self.intern(&rename.from),
                to: self.intern(&rename.to),
                similarity: rename.similarity,
            })
            .collect();
        let subject = record
            .message
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_owned();
        let merge = record.parents.len() > 1;
        // Without a conventional scope, git's `area: …` prefix is one (not a merge's).
        let scope = labels.scope.or_else(|| {
            (!merge)
                .then(|| crate::subjects::scope_of(&subject))
                .flatten()
        });
        self.commits.push(Commit {
            id: record.id.clone(),
            time: epoch_seconds(&record.author.time).unwrap_or(0),
            author,
            subject,
            merge,
            class: labels.class,
            scope,
            references: labels.references,
            changes,
            moves,
            dependencies: labels.dependencies,
        });
    }

    /// Puts the commits in the opposite order: a walk that pushes the newest commit first
    /// (`git log` order) ends with this, so the analyses read them oldest first.
    pub fn reverse(&mut self) {
        self.commits.reverse();
    }

    /// The path of an id.
    pub fn path(&self, id: PathId) -> &str {
        &self.paths[id.0 as usize]
    }

    /// The id of a path, if any commit touched it.
    pub fn path_id(&self, path: &str) -> Option<PathId> {
        self.path_ids.get(path).copied()
    }

    /// Every path any commit touched, in the order they were first pushed.
    pub fn paths(&self) -> impl Iterator<Item = (PathId, &str)> {
        self.paths
            .iter()
            .enumerate()
            .map(|(i, p)| (PathId(i as u32), p.as_str()))
    }

    /// The author of an id.
    pub fn author_of(&self, id: AuthorId) -> &Author {
        &self.authors[id.0 as usize]
    }

    /// Every author, in the order they were first pushed.
    pub fn authors(&self) -> impl Iterator<Item = (AuthorId, &Author)> {
        self.authors
            .iter()
            .enumerate()
            .map(|(i, a)| (AuthorId(i as u32), a))
    }

    /// The top-level directory of a path (`src` of `src/lib.rs`), or `.` for a file at the
    /// root: what the analyses call an area.
    pub fn area(&self, id: PathId) -> &str {
        area_of(self.path(id))
    }

    fn intern(&mut self, path: &str) -> PathId {
        if let Some(id) = self.path_ids.get(path) {
            return *id;
        }
        let id = PathId(u32::try_from(self.paths.len()).unwrap_or(u32::MAX));
        self.paths.push(path.to_owned());
        self.path_ids.insert(path.to_owned(), id);
        id
    }

    fn author(&mut self, name: &str, key: String, bot: bool) -> AuthorId {
        if let Some(id) = self.author_ids.get(&key) {
            return *id;
        }
        let id = AuthorId(u32::try_from(self.authors.len()).unwrap_or(u32::MAX));
        self.authors.push(Author {
            name: name.to_owned(),
            key: key.clone(),
            bot,
        });
        self.author_ids.insert(key, id);
        id
    }
}

/// The top-level directory of a `/`-separated path, or `.` for a file at the root.
pub fn area_of(path: &str) -> &str {
    path.split_once('/').map_or(".", |(top, _)| top)
}

#[cfg(test)]
mod tests {
    use gitview_core::records::{FileStat, Identity, Person, Rename};

    use super::*;

    fn person(name: &str, email: &str, time: &str) -> Person {
        Person {
            name: name.into(),
            email: email.into(),
            time: time.into(),
            canonical: None,
        }
    }

    #[test]
    fn records_are_interned_and_labelled_in_order() {
        let mut ada = person("Ada", "Ada@Example.com", "2024-01-01T10:00:00+02:00");
        let mut history = History::new();
        history.push(
            &CommitRecord {
                id: "a1".into(),
                parents: vec![],
                author: ada.clone(),
                committer: ada.clone(),
                message: "feat(parser): add it\n\nbody\n".into(),
                files: vec![
                    FileStat {
                        path: "src/parser.rs".into(),
                        added: Some(10),
                        deleted: Some(0),
                        status: FileStatus::Added,
                    },
                    FileStat {
                        path: "logo.png".into(),
                        added: None,
                        deleted: None,
                        status: FileStatus::Added,
                    },
                ],
                renames: vec![],
            },
            CommitLabels {
                class: "feature".into(),
                scope: Some("parser".into()),
                references: vec!["#1".into()],
                bot: false,
                dependencies: DependencyChanges::default(),
            },
        );
        // The same person under a mailmapped identity is the same author.
        ada.canonical = Some(Identity {
            name: "Ada".into(),
            email: "ada@example.com".into(),
        });
        ada.email = "old@example.com".into();
        history.push(
            &CommitRecord {
                id: "b2".into(),
                parents: vec!["a1".into(), "x".into()],
                author: ada.clone(),
                committer: ada,
                message: "Move the parser".into(),
                files: vec![FileStat {
                    path: "src/parser.rs".into(),
                    added: Some(1),
                    deleted: Some(2),
                    status: FileStatus::TypeChanged,
                }],
                renames: vec![Rename {
                    from: "src/parser.rs".into(),
                    to: "lib/parser.rs".into(),
                    similarity: 100,
                }],
            },
            CommitLabels::default(),
        );
        let [first, second] = &history.commits[..] else {
            panic!("two commits");
        };
        assert_eq!(first.time, 1_704_096_000);
        assert_eq!(first.subject, "feat(parser): add it");
        assert_eq!(first.author, second.author);
        assert_eq!(history.author_of(first.author).key, "ada@example.com");
        assert_eq!(first.churn(), 10);
        assert_eq!(first.changes[1].added, 0);
        assert!(second.merge && !first.merge);
        assert_eq!(second.changes[0].path, first.changes[0].path);
        assert_eq!(second.changes[0].kind, ChangeKind::Modified);
        assert_eq!(history.path(second.moves[0].to), "lib/parser.rs");
        assert_eq!(history.area(first.changes[0].path), "src");
        assert_eq!(history.area(first.changes[1].path), ".");
        assert_eq!(history.paths().count(), 3);
    }

    #[test]
    fn the_test_builder_writes_days_and_authors() {
        let history = crate::testing::Builder::new()
            .commit("Ada", 0, "first", &[("a.rs", '+', 3, 0)])
            .commit("Bob", 2, "second", &[("a.rs", 'M', 1, 1)])
            .build();
        assert_eq!(
            history.commits[1].time - history.commits[0].time,
            2 * 86_400
        );
        assert_eq!(history.commits[1].id, "c2");
        assert_eq!(
            history.author_of(history.commits[1].author).key,
            "bob@example.com"
        );
    }
}

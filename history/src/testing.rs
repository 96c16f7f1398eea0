//! Histories written in a line per commit, for the analyses' tests.

use gitview_core::records::{CommitRecord, FileStat, FileStatus, Person, Rename};

use crate::{CommitLabels, History};

/// Builds a [`History`] commit by commit: ids are `c1`, `c2`, … in order (or 40 hex digits
/// with [`Builder::hex_ids`]); times are whole days after 2024-01-01 (UTC).
#[derive(Debug, Default)]
pub struct Builder {
    history: History,
    hex: bool,
}

/// One file of a test commit: `("src/a.rs", '+', 10, 0)` adds `src/a.rs` with 10 lines;
/// `'M'` modifies and `'-'` deletes.
pub type File<'a> = (&'a str, char, u64, u64);

impl Builder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Ids that look like git's: 40 hex digits, the first 7 of them different for every commit
    /// (what a story's short ids show), from [`hex_id`].
    pub fn hex_ids(mut self) -> Self {
        self.hex = true;
        self
    }

    fn id(&self, n: usize) -> String {
        if self.hex { hex_id(n) } else { format!("c{n}") }
    }

    /// The next commit: `author` is a name (its email is `<name>@example.com`, lower-cased),
    /// `day` the days after 2024-01-01.
    pub fn commit(self, author: &str, day: i64, subject: &str, files: &[File<'_>]) -> Self {
        self.labelled(author, day, subject, files, &[], CommitLabels::default())
    }

    /// The next commit with renames (`(from, to, similarity)`) and labels.
    pub fn labelled(
        mut self,
        author: &str,
        day: i64,
        subject: &str,
        files: &[File<'_>],
        renames: &[(&str, &str, u8)],
        mut labels: CommitLabels,
    ) -> Self {
        let time = gitview_core::time::format_recorded(1_704_067_200 + day * 86_400, 0);
        let person = Person {
            name: author.to_owned(),
            email: format!("{}@example.com", author.to_lowercase()),
            time,
            canonical: None,
        };
        if labels.class.is_empty() {
            labels.class = "feature".to_owned();
        }
        let n = self.history.commits.len() + 1;
        let record = CommitRecord {
            id: self.id(n),
            parents: if n == 1 { vec![] } else { vec![self.id(n - 1)] },
            author: person.clone(),
            committer: person,
            message: format!("{subject}\n"),
            files: files
                .iter()
                .map(|&(path, kind, added, deleted)| FileStat {
                    path: path.to_owned(),
                    added: Some(added),
                    deleted: Some(deleted),
                    status: match kind {
                        '+' => FileStatus::Added,
                        '-' => FileStatus::Deleted,
                        _ => FileStatus::Modified,
                    },
                })
                .collect(),
            renames: renames
                .iter()
                .map(|&(from, to, similarity)| Rename {
                    from: from.to_owned(),
                    to: to.to_owned(),
                    similarity,
                })
                .collect(),
        };
        self.history.push(&record, labels);
        self
    }

    pub fn build(self) -> History {
        self.history
    }
}

/// The id [`Builder::hex_ids`] gives the `n`th commit (1-based): a multiplicative hash of `n`
/// (16 hex digits, distinct for distinct `n`), then `n` in 24 hex digits.
pub fn hex_id(n: usize) -> String {
    let hash = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{hash:016x}{n:024x}")
}

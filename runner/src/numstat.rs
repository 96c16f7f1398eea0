//! Line counts of one changed file, exactly as `git diff --numstat` reports them.
//!
//! Pure functions, no I/O: the [`extract`](crate::extract) stage hands in blob contents (or the
//! fact that gix's attribute-aware pipeline already classified a side as binary).
//!
//! What git does, and what this module mirrors:
//! * A side is binary when its first 8000 bytes hold a NUL (`buffer_is_binary()` in git's
//!   `xdiff-interface.c`), or when `.gitattributes` says so (`-diff`, `binary`, a diff driver
//!   with `binary = true`) — the attribute part is decided by the caller. If either side is
//!   binary, numstat prints `-` for both counts, even when only the mode changed.
//! * Otherwise, identical contents (a mode-only change) count `0 0` without diffing.
//! * Otherwise the counts are the `+`/`-` lines of a Myers line diff (git's default
//!   algorithm, with its pruning of frequent lines and its cost heuristics, which the
//!   `gix-imara-diff` port reproduces). Lines include their terminator: `a` and `a\n` differ,
//!   and so do `a\r\n` and `a\n`.
//! * A missing side (an added or deleted file) is empty and never binary.

use gix::diff::blob::{Algorithm, Diff, InternedInput};

/// How many leading bytes git inspects for a NUL to call a buffer binary (`FIRST_FEW_BYTES`).
pub const FIRST_FEW_BYTES: usize = 8000;

/// Whether git would call `data` binary by content alone.
pub fn is_binary(data: &[u8]) -> bool {
    data[..data.len().min(FIRST_FEW_BYTES)].contains(&0)
}

/// What `git diff --numstat` prints for one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineCounts {
    /// `-\t-`: at least one side is binary.
    Binary,
    /// Lines added and deleted.
    Text { added: u64, deleted: u64 },
}

impl LineCounts {
    /// Lines added, or `None` for a binary file.
    pub fn added(self) -> Option<u64> {
        match self {
            Self::Binary => None,
            Self::Text { added, .. } => Some(added),
        }
    }

    /// Lines deleted, or `None` for a binary file.
    pub fn deleted(self) -> Option<u64> {
        match self {
            Self::Binary => None,
            Self::Text { deleted, .. } => Some(deleted),
        }
    }
}

/// One side of a file pair, as the diff sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side<'a> {
    /// The file does not exist on this side (it was added or deleted).
    Missing,
    /// The contents of the file. Binary detection by content still applies.
    Data(&'a [u8]),
    /// Known to be binary without looking at the content (attributes, size threshold).
    Binary,
}

impl<'a> Side<'a> {
    fn is_binary(self) -> bool {
        match self {
            Side::Missing => false,
            Side::Data(data) => is_binary(data),
            Side::Binary => true,
        }
    }

    /// The bytes to diff: nothing for a missing side (binary sides never get diffed).
    fn contents(self) -> &'a [u8] {
        match self {
            Side::Data(data) => data,
            Side::Missing | Side::Binary => &[],
        }
    }
}

/// The numstat of a file pair. `same_contents` is true when both sides are the same blob (a
/// mode-only change), which git reports as `0 0` without diffing (unless binary).
pub fn numstat(old: Side<'_>, new: Side<'_>, same_contents: bool) -> LineCounts {
    if old.is_binary() || new.is_binary() {
        return LineCounts::Binary;
    }
    if same_contents {
        return LineCounts::Text {
            added: 0,
            deleted: 0,
        };
    }
    let (added, deleted) = count_lines(old.contents(), new.contents());
    LineCounts::Text { added, deleted }
}

/// Lines added and deleted by a Myers line diff from `old` to `new`.
pub fn count_lines(old: &[u8], new: &[u8]) -> (u64, u64) {
    if old == new {
        return (0, 0);
    }
    if old.is_empty() {
        return (line_count(new), 0);
    }
    if new.is_empty() {
        return (0, line_count(old));
    }
    // `&[u8]` tokenizes into lines that keep their `\n` (and `\r\n`), like xdiff's records.
    let input = InternedInput::new(old, new);
    let diff = Diff::compute(Algorithm::Myers, &input);
    (
        u64::from(diff.count_additions()),
        u64::from(diff.count_removals()),
    )
}

/// Number of lines in `data` as git counts them: a last line without `\n` still counts.
pub fn line_count(data: &[u8]) -> u64 {
    let newlines = data.iter().filter(|&&b| b == b'\n').count() as u64;
    newlines + u64::from(data.last().is_some_and(|&b| b != b'\n'))
}

/// The text git diffs for a submodule (gitlink) entry: `Subproject commit <hex>\n`.
pub fn gitlink_text(hex_id: &str) -> Vec<u8> {
    format!("Subproject commit {hex_id}\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(added: u64, deleted: u64) -> LineCounts {
        LineCounts::Text { added, deleted }
    }

    #[test]
    fn nul_in_first_8000_bytes_is_binary() {
        assert!(!is_binary(b""));
        assert!(!is_binary(b"plain\ntext\n"));
        assert!(is_binary(b"a\0b"));
        let mut late = vec![b'a'; FIRST_FEW_BYTES];
        late.push(0);
        assert!(
            !is_binary(&late),
            "a NUL past the first 8000 bytes does not count"
        );
        late[FIRST_FEW_BYTES - 1] = 0;
        assert!(is_binary(&late), "a NUL at byte 8000 counts");
    }

    #[test]
    fn either_side_binary_makes_the_pair_binary() {
        assert_eq!(
            numstat(Side::Data(b"a\n"), Side::Data(b"\0"), false),
            LineCounts::Binary
        );
        assert_eq!(
            numstat(Side::Data(b"\0"), Side::Missing, false),
            LineCounts::Binary
        );
        assert_eq!(
            numstat(Side::Binary, Side::Data(b"a\n"), false),
            LineCounts::Binary
        );
        assert_eq!(
            numstat(Side::Data(b"\0"), Side::Data(b"\0"), true),
            LineCounts::Binary,
            "even a mode-only change"
        );
        assert_eq!(LineCounts::Binary.added(), None);
        assert_eq!(LineCounts::Binary.deleted(), None);
    }

    #[test]
    fn additions_and_deletions_count_every_line() {
        assert_eq!(
            numstat(Side::Missing, Side::Data(b"a\nb\nc"), false),
            text(3, 0)
        );
        assert_eq!(
            numstat(Side::Data(b"a\nb\n"), Side::Missing, false),
            text(0, 2)
        );
        assert_eq!(
            numstat(Side::Missing, Side::Data(b""), false),
            text(0, 0),
            "empty files have no lines"
        );
    }

    #[test]
    fn mode_only_change_is_zero() {
        assert_eq!(
            numstat(Side::Data(b"a\n"), Side::Data(b"a\n"), true),
            text(0, 0)
        );
    }

    #[test]
    fn line_terminators_are_part_of_the_line() {
        assert_eq!(
            count_lines(b"a\nb", b"a\nb\n"),
            (1, 1),
            "adding the final newline changes the last line"
        );
        assert_eq!(
            count_lines(b"a\r\nb\r\n", b"a\nb\r\n"),
            (1, 1),
            "CRLF to LF is a change"
        );
        assert_eq!(count_lines(b"a\nb\nc\n", b"a\nX\nc\n"), (1, 1));
        assert_eq!(count_lines(b"a\nb\nc\n", b"a\nc\n"), (0, 1));
    }

    #[test]
    fn counts_are_those_of_a_minimal_diff_for_small_inputs() {
        // abcabba -> cbabac, the example of Myers' paper: 5 edits, LCS of length 4.
        let old = b"a\nb\nc\na\nb\nb\na\n";
        let new = b"c\nb\na\nb\na\nc\n";
        assert_eq!(count_lines(old, new), (2, 3));
    }

    #[test]
    fn line_count_counts_an_unterminated_last_line() {
        assert_eq!(line_count(b""), 0);
        assert_eq!(line_count(b"\n"), 1);
        assert_eq!(line_count(b"a"), 1);
        assert_eq!(line_count(b"a\nb"), 2);
        assert_eq!(line_count(b"a\nb\n"), 2);
    }

    #[test]
    fn gitlinks_diff_as_one_line() {
        assert_eq!(gitlink_text("abc"), b"Subproject commit abc\n".to_vec());
    }
}

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

use gix::bstr::ByteSlice as _;
use gix::diff::blob::{Algorithm, Diff, Token};
use gix::hashtable::hash_table::HashTable;

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
    LineDiff::default().numstat(old, new, same_contents)
}

/// Lines added and deleted by a Myers line diff from `old` to `new`.
pub fn count_lines(old: &[u8], new: &[u8]) -> (u64, u64) {
    LineDiff::default().count_lines(old, new)
}

/// A line diff whose tables and buffers are kept from one file to the next.
///
/// It computes the same diff as gix's [`InternedInput`](gix::diff::blob::InternedInput) of both
/// files followed by [`Diff::compute`] with Myers, with less work for the lines both files share
/// at their start and end (usually most of them):
/// * Those common lines are found by comparing bytes, not by hashing lines.
/// * If nothing is left between them on one side, the lines left on the other side are all
///   added (or deleted): that is what the Myers diff answers without looking at them.
/// * If no line between them on one side occurs between them on the other, none can be
///   matched: they are all deleted and added, whatever the pruning of frequent lines (which
///   only ever removes lines from the comparison) and the cost heuristics make of them.
/// * Otherwise only the lines between them are interned; a common line is only looked up, and
///   one that occurs nowhere in between gets a shared placeholder id. The diff still sees every
///   line, as it must: git's `xdl_cleanup_records()` (and the Myers port) classify the lines
///   between the common ends by how often they occur in the *whole* other file, and the lines
///   that only occur in the common ends are never classified or compared.
#[derive(Default)]
pub struct LineDiff {
    /// Ids of the distinct lines between the common ends, hashed by their bytes.
    table: HashTable<u32>,
    /// Per id: which side (`false`: old) and where in it its first occurrence is.
    lines: Vec<(bool, usize, usize)>,
    hashes: Vec<u64>,
    hasher: foldhash::fast::FixedState,
    /// The [`shape`]s of the lines between the common ends, as bits: a line of the common
    /// ends whose shape is not among them cannot occur between them, and is not hashed.
    shapes: Vec<u64>,
    shapes_set: Vec<u16>,
    old_middle: Vec<Token>,
    new_middle: Vec<Token>,
    before: Vec<Token>,
    after: Vec<Token>,
    diff: Diff,
}

impl std::fmt::Debug for LineDiff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineDiff").finish_non_exhaustive()
    }
}

impl LineDiff {
    /// [`numstat()`] with this diff's buffers.
    pub fn numstat(&mut self, old: Side<'_>, new: Side<'_>, same_contents: bool) -> LineCounts {
        if old.is_binary() || new.is_binary() {
            return LineCounts::Binary;
        }
        if same_contents {
            return LineCounts::Text {
                added: 0,
                deleted: 0,
            };
        }
        let (added, deleted) = self.count_lines(old.contents(), new.contents());
        LineCounts::Text { added, deleted }
    }

    /// [`count_lines()`] with this diff's buffers.
    pub fn count_lines(&mut self, old: &[u8], new: &[u8]) -> (u64, u64) {
        if old == new {
            return (0, 0);
        }
        if old.is_empty() {
            return (line_count(new), 0);
        }
        if new.is_empty() {
            return (0, line_count(old));
        }
        let (prefix, old_end, new_end) = common_ends(old, new);
        let (old_middle, new_middle) = (&old[prefix..old_end], &new[prefix..new_end]);
        if old_middle.is_empty() || new_middle.is_empty() {
            return (line_count(new_middle), line_count(old_middle));
        }

        self.table.clear();
        self.lines.clear();
        self.hashes.clear();
        if self.shapes.is_empty() {
            self.shapes = vec![0; (1 << 16) / 64];
        }
        for shape in self.shapes_set.drain(..) {
            self.shapes[usize::from(shape / 64)] = 0;
        }
        // The lines between the common ends, interned.
        self.old_middle.clear();
        let mut start = prefix;
        for line in lines(old_middle) {
            let token = self.intern(old, new, false, start, line);
            self.old_middle.push(token);
            start += line.len();
        }
        self.new_middle.clear();
        let mut start = prefix;
        let mut shared = false;
        for line in lines(new_middle) {
            let token = self.intern(old, new, true, start, line);
            shared |= !self.lines[token.0 as usize].0;
            self.new_middle.push(token);
            start += line.len();
        }
        // No line occurs between the common ends on both sides.
        if !shared {
            return (self.new_middle.len() as u64, self.old_middle.len() as u64);
        }
        // The common ends, looked up (the same on both sides).
        let placeholder = Token(u32::try_from(self.lines.len()).expect("fewer than 2^32 lines"));
        self.before.clear();
        self.after.clear();
        for line in lines(&old[..prefix]) {
            let token = self.look_up(old, new, line).unwrap_or(placeholder);
            self.before.push(token);
        }
        self.after.extend_from_slice(&self.before);
        self.before.extend_from_slice(&self.old_middle);
        self.after.extend_from_slice(&self.new_middle);
        for line in lines(&old[old_end..]) {
            let token = self.look_up(old, new, line).unwrap_or(placeholder);
            self.before.push(token);
            self.after.push(token);
        }

        self.diff.compute_with(
            Algorithm::Myers,
            &self.before,
            &self.after,
            placeholder.0 + 1,
        );
        (
            u64::from(self.diff.count_additions()),
            u64::from(self.diff.count_removals()),
        )
    }

    fn line_at<'a>(&self, old: &'a [u8], new: &'a [u8], id: u32) -> &'a [u8] {
        let (is_new, start, end) = self.lines[id as usize];
        if is_new {
            &new[start..end]
        } else {
            &old[start..end]
        }
    }

    fn find(&self, old: &[u8], new: &[u8], hash: u64, line: &[u8]) -> Option<u32> {
        self.table
            .find(hash, |&id| self.line_at(old, new, id) == line)
            .copied()
    }

    /// The id of a line of the common ends if it also occurs between them.
    fn look_up(&self, old: &[u8], new: &[u8], line: &[u8]) -> Option<Token> {
        use std::hash::BuildHasher as _;
        let shape = shape(line);
        if self.shapes[usize::from(shape / 64)] & (1 << (shape % 64)) == 0 {
            return None;
        }
        let hash = self.hasher.hash_one(line);
        self.find(old, new, hash, line).map(Token)
    }

    fn intern(&mut self, old: &[u8], new: &[u8], is_new: bool, start: usize, line: &[u8]) -> Token {
        use std::hash::BuildHasher as _;
        let hash = self.hasher.hash_one(line);
        if let Some(id) = self.find(old, new, hash, line) {
            return Token(id);
        }
        let id = u32::try_from(self.lines.len()).expect("fewer than 2^32 lines");
        self.lines.push((is_new, start, start + line.len()));
        let shape = shape(line);
        self.shapes[usize::from(shape / 64)] |= 1 << (shape % 64);
        self.shapes_set.push(shape);
        self.hashes.push(hash);
        let hashes = &self.hashes;
        self.table
            .insert_unique(hash, id, |&id| hashes[id as usize]);
        Token(id)
    }
}

/// A cheap 16-bit summary of a line (its length and middle byte): equal lines have equal shapes.
fn shape(line: &[u8]) -> u16 {
    let middle = line.get(line.len() / 2).copied().unwrap_or(0);
    (line.len() as u16 & 0xff) | (u16::from(middle) << 8)
}

/// The lines of `data` as xdiff splits them: each ends after its `\n`, the last may lack one.
fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest.find_byte(b'\n').map_or(rest.len(), |pos| pos + 1);
        let (line, tail) = rest.split_at(end);
        rest = tail;
        Some(line)
    })
}

/// How many bytes `a` and `b` share at their start; eight at a time.
pub(crate) fn same_start(a: &[u8], b: &[u8]) -> usize {
    let len = a.len().min(b.len());
    let mut at = 0;
    while at + 8 <= len {
        let word = |data: &[u8]| u64::from_le_bytes(data[at..at + 8].try_into().expect("8 bytes"));
        let differ = word(a) ^ word(b);
        if differ != 0 {
            // Little-endian: the first byte is the lowest.
            return at + (differ.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + a[at..len]
        .iter()
        .zip(&b[at..len])
        .position(|(x, y)| x != y)
        .unwrap_or(len - at)
}

/// How many bytes `a` and `b` share at their end; eight at a time.
pub(crate) fn same_end(a: &[u8], b: &[u8]) -> usize {
    let len = a.len().min(b.len());
    let mut same = 0;
    while same + 8 <= len {
        let word = |data: &[u8]| {
            let end = data.len() - same;
            u64::from_le_bytes(data[end - 8..end].try_into().expect("8 bytes"))
        };
        let differ = word(a) ^ word(b);
        if differ != 0 {
            // Little-endian: the last byte is the highest.
            return same + (differ.leading_zeros() / 8) as usize;
        }
        same += 8;
    }
    same + a[..a.len() - same]
        .iter()
        .rev()
        .zip(b[..b.len() - same].iter().rev())
        .position(|(x, y)| x != y)
        .unwrap_or(len - same)
}

/// The lines `old` and `new` (which differ) share at their start and at their end, as byte
/// offsets: `(prefix, old_end, new_end)` where `old[..prefix] == new[..prefix]` and
/// `old[old_end..] == new[new_end..]` are whole lines, both as long as possible, the end taken
/// from what follows the start (as the Myers diff strips them: start first).
fn common_ends(old: &[u8], new: &[u8]) -> (usize, usize, usize) {
    let same = same_start(old, new);
    // Only lines that end (with their `\n`) before the first difference are common: a last
    // line without `\n` would mean both files are equal.
    let prefix = old[..same].rfind_byte(b'\n').map_or(0, |pos| pos + 1);
    let (old_rest, new_rest) = (&old[prefix..], &new[prefix..]);
    let same_end = same_end(old_rest, new_rest);
    let (old_cut, new_cut) = (old_rest.len() - same_end, new_rest.len() - same_end);
    let starts_line = |rest: &[u8], at: usize| at == 0 || rest[at - 1] == b'\n';
    // The common end starts at the first position of the equal bytes where a line starts on
    // both sides (the bytes before it are equal from there on, so are the line starts).
    let skip = if starts_line(old_rest, old_cut) && starts_line(new_rest, new_cut) {
        0
    } else {
        old_rest[old_cut..]
            .find_byte(b'\n')
            .map_or(same_end, |pos| pos + 1)
    };
    (prefix, prefix + old_cut + skip, prefix + new_cut + skip)
}

/// Number of lines in `data` as git counts them: a last line without `\n` still counts.
pub fn line_count(data: &[u8]) -> u64 {
    newlines(data) + u64::from(data.last().is_some_and(|&b| b != b'\n'))
}

/// How many `\n` bytes `data` holds, eight bytes at a time (about five times as fast as a
/// byte loop; added and deleted files are counted whole).
fn newlines(data: &[u8]) -> u64 {
    const LOW_7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const NEWLINES: u64 = 0x0a0a_0a0a_0a0a_0a0a;
    let mut words = data.chunks_exact(8);
    let mut count = 0;
    for word in &mut words {
        // A byte of `x` is zero where `word` has a `\n`. Adding 0x7f to its low 7 bits sets
        // its high bit unless it is zero, without carrying into the next byte.
        let x = u64::from_le_bytes(word.try_into().expect("8 bytes")) ^ NEWLINES;
        let nonzero = ((x & LOW_7) + LOW_7) | x;
        count += u64::from((!nonzero & !LOW_7).count_ones());
    }
    count + words.remainder().iter().filter(|&&b| b == b'\n').count() as u64
}

/// The text git diffs for a submodule (gitlink) entry: `Subproject commit <hex>\n`.
pub fn gitlink_text(hex_id: &str) -> Vec<u8> {
    format!("Subproject commit {hex_id}\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Random;

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

    /// What [`count_lines`] computed before [`LineDiff`]: gix's interning of both whole files.
    fn reference(old: &[u8], new: &[u8]) -> (u64, u64) {
        use gix::diff::blob::InternedInput;
        if old == new {
            return (0, 0);
        }
        let input = InternedInput::new(old, new);
        let diff = Diff::compute(Algorithm::Myers, &input);
        (
            u64::from(diff.count_additions()),
            u64::from(diff.count_removals()),
        )
    }

    #[test]
    fn shared_bytes_at_either_end() {
        let long = b"0123456789abcdefghij";
        for (a, b, start, end) in [
            (&b""[..], &b""[..], 0, 0),
            (b"abc", b"abd", 2, 0),
            (b"abc", b"xbc", 0, 2),
            (b"abc", b"abc", 3, 3),
            (b"abc", b"abcd", 3, 0),
            (&long[..], &b"0123456789abcdefghiX"[..], 19, 0),
            (&long[..], &b"X123456789abcdefghij"[..], 0, 19),
            (&long[..], &b"0123456789abXdefghij"[..], 12, 7),
            (&long[..], &long[4..], 0, 16),
            (&long[..], &long[..12], 12, 0),
        ] {
            assert_eq!(
                same_start(a, b),
                start,
                "{:?} {:?}",
                a.as_bstr(),
                b.as_bstr()
            );
            assert_eq!(same_end(a, b), end, "{:?} {:?}", a.as_bstr(), b.as_bstr());
        }
    }

    #[test]
    fn common_ends_are_whole_lines() {
        assert_eq!(common_ends(b"a\nb", b"a\nb\nc\n"), (2, 3, 6));
        assert_eq!(common_ends(b"a\n", b"a\nb\n"), (2, 2, 4));
        assert_eq!(common_ends(b"b\n", b"a\nb\n"), (0, 0, 2));
        assert_eq!(common_ends(b"xa\nb\n", b"ya\nb\n"), (0, 3, 3));
        assert_eq!(common_ends(b"a\nxb\n", b"a\nyb\n"), (2, 5, 5));
        assert_eq!(common_ends(b"a\nb", b"a\nc"), (2, 3, 3));
        assert_eq!(
            common_ends(b"a\na\n", b"a\n"),
            (2, 4, 2),
            "the end is taken after the start"
        );
    }

    #[test]
    fn counts_equal_those_of_interning_whole_files() {
        // Few distinct lines, so that some are frequent enough for the Myers diff's pruning of
        // common lines, with and without terminators and with CRLF.
        const LINES: [&[u8]; 10] = [
            b"\n",
            b"}\n",
            b"{\n",
            b"a\n",
            b"b\n",
            b"a\r\n",
            b"return 0;\n",
            b"c\n",
            b"d",
            b"}",
        ];
        let mut random = Random(0x9e37_79b9_7f4a_7c15);
        let mut diff = LineDiff::default();
        for case in 0..3000 {
            let len = [3, 20, 200, 2000][case % 4];
            let file = |random: &mut Random, len: usize| -> Vec<u8> {
                (0..random.below(len) + 1)
                    .flat_map(|_| LINES[random.below(LINES.len())].iter().copied())
                    .collect()
            };
            let old = file(&mut random, len);
            // The new file: the old one with a few runs replaced, inserted or removed; inserted
            // runs mix frequent lines with lines found nowhere else, around which the diff
            // prunes frequent lines.
            let mut new = old.clone();
            for _ in 0..random.below(4) + 1 {
                let at = random.below(new.len() + 1);
                let removed = random.below(new.len() - at + 1).min(random.below(40));
                let inserted: Vec<u8> = (0..random.below(30) + 1)
                    .flat_map(|_| match random.below(3) {
                        0 => LINES[random.below(LINES.len())].to_vec(),
                        _ => format!("unique {}\n", random.below(1 << 30)).into_bytes(),
                    })
                    .collect();
                new.splice(at..at + removed, inserted);
            }
            for (a, b) in [(&old, &new), (&new, &old)] {
                assert_eq!(
                    diff.count_lines(a, b),
                    reference(a, b),
                    "case {case}: {:?} → {:?}",
                    a.as_bstr(),
                    b.as_bstr()
                );
            }
        }
    }

    #[test]
    fn lines_between_the_ends_that_only_one_side_has_are_all_changed() {
        // The ends hold every line of both middles, often enough to make them frequent.
        let ends = "u1\nw1\n}\n".repeat(50);
        for (old_middle, new_middle, counts) in [
            ("u1\nu2\n", "w1\nw2\nw3\n", (3, 2)),
            ("u1\n}\nu2\n", "w1\n}\nw2\n", (2, 2)),
        ] {
            let old = format!("{ends}{old_middle}{ends}");
            let new = format!("{ends}{new_middle}{ends}");
            assert_eq!(reference(old.as_bytes(), new.as_bytes()), counts);
            assert_eq!(count_lines(old.as_bytes(), new.as_bytes()), counts);
        }
    }

    #[test]
    fn lines_of_the_common_ends_count_for_pruning() {
        // `}` occurs 101 times in each file, mostly in the common start: frequent enough that
        // the diff prunes the one between unmatched lines instead of matching it, as git does.
        let ends = "}\n".repeat(100);
        let old = format!("{ends}u1\nu2\nu3\nu4\n}}\nv1\nv2\nv3\nv4\n");
        let new = format!("{ends}w1\nw2\nw3\nw4\n}}\nz1\nz2\nz3\nz4\n");
        assert_eq!(reference(old.as_bytes(), new.as_bytes()), (9, 9));
        assert_eq!(count_lines(old.as_bytes(), new.as_bytes()), (9, 9));
    }

    #[test]
    fn only_whole_lines_of_the_common_ends_count() {
        // Few distinct lines between the ends.
        let middle = |a: &str, b: &str| format!("{a}\n{b}\n{a}\n{b}\n}}\n{a}\n{b}\n{a}\n{b}\n");
        let (old_middle, new_middle) = (middle("u1", "u2"), middle("w1", "w2"));
        // `}` is 100 lines of the common start: frequent enough to be pruned between lines
        // that match nothing.
        let ends = "}\n".repeat(100);
        let (old, new) = (format!("{ends}{old_middle}"), format!("{ends}{new_middle}"));
        assert_eq!(reference(old.as_bytes(), new.as_bytes()), (9, 9));
        assert_eq!(count_lines(old.as_bytes(), new.as_bytes()), (9, 9));
        // `}` ends 100 lines of the common start but is none of them: in each file it occurs
        // once, too rarely to be pruned, so it matches.
        let ends = "x}\n".repeat(100);
        let (old, new) = (format!("{ends}{old_middle}"), format!("{ends}{new_middle}"));
        assert_eq!(reference(old.as_bytes(), new.as_bytes()), (8, 8));
        assert_eq!(count_lines(old.as_bytes(), new.as_bytes()), (8, 8));
    }

    #[test]
    fn every_line_of_the_common_ends_counts_for_the_pruning_limit() {
        // 400 lines of common start that occur nowhere else still make the files long, so
        // that `}` (eight times in each) is below the limit of lines frequent enough to prune
        // (about the square root of a file's lines), and matches.
        let ends: String = (0..400).map(|i| format!("e{i}\n")).collect();
        let old = format!("{ends}{}", "a1\na2\na3\na1\na2\na3\n}\n".repeat(8));
        let new = format!("{ends}{}", "b1\nb2\nb3\nb1\nb2\nb3\n}\n".repeat(8));
        let expected = reference(old.as_bytes(), new.as_bytes());
        assert_eq!(expected, (48, 48));
        assert_eq!(count_lines(old.as_bytes(), new.as_bytes()), expected);
        // Without the common start, `}` is frequent enough to be pruned between lines that
        // match nothing.
        let (old, new) = (&old[ends.len()..], &new[ends.len()..]);
        assert_ne!(reference(old.as_bytes(), new.as_bytes()), expected);
    }

    #[test]
    fn newlines_are_counted_in_every_byte_position() {
        let mut random = Random(0x2545_f491_4f6c_dd1d);
        for len in 0..100 {
            let data: Vec<u8> = (0..len)
                .map(|_| [b'\n', b'a', 0x8a, 0x0b, 0xff, 0][random.below(6)])
                .collect();
            let expected = data.iter().filter(|&&b| b == b'\n').count() as u64;
            assert_eq!(newlines(&data), expected, "{data:?}");
        }
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

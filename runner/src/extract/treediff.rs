//! The changes between two trees, as gix's tree diff ([`gix::diff::tree`]) reports them, with
//! less work for what both trees share.
//!
//! gix compares two trees entry by entry, and builds the path of every entry it passes, also of
//! the ones that did not change. A commit usually changes one or two entries of each tree on
//! its way down, and some trees are long (git/git's root has 561 entries, its `t/` 1,197).
//! Here, at every level, the runs of whole entries that are the same bytes at the start and at
//! the end of both trees are left out before the entries between them are compared
//! ([`differing_entries`]); only changed entries get a path.
//!
//! Everything else is gix's behaviour, so that its rename tracker
//! ([`gix::diff::rewrites::Tracker`]) sees the same changes: trees are visited breadth first,
//! entries are matched in git's tree order ([`gix::objs::tree::name_order`]), a changed
//! subtree is reported as a modification of the tree before its contents, and the entries of a
//! tree that is added or deleted as a whole carry a [`Relation`] to it (which lets the tracker
//! match a renamed directory).

use std::collections::VecDeque;

use gix::ObjectId;
use gix::bstr::{BStr, BString, ByteSlice};
use gix::diff::tree::visit::{Change, Relation};
use gix::error::ErrorExt as _;
use gix::objs::TreeRefIter;
use gix::objs::tree::EntryRef;

use super::numstat;
use super::packs::PackedObjects;

/// A tree pair still to compare: `path` is its location with a trailing `/`.
struct Pending {
    old: Option<ObjectId>,
    new: Option<ObjectId>,
    path: BString,
    relation: Option<Relation>,
}

/// The state of tree diffs, kept from one commit to the next.
#[derive(Default)]
pub(crate) struct TreeDiff {
    queue: VecDeque<Pending>,
    /// The location of the change being reported.
    path: BString,
    change_id: u32,
}

impl TreeDiff {
    /// Calls `emit` with every change from tree `old` to tree `new` (their bytes; empty for
    /// the empty tree) and its location, reading subtrees from `objects`.
    pub(crate) fn changes(
        &mut self,
        objects: &PackedObjects<'_>,
        hash: gix::hash::Kind,
        old: &[u8],
        new: &[u8],
        mut emit: impl FnMut(Change, &BStr),
    ) -> Result<(), gix::Error> {
        self.queue.clear();
        self.change_id = 0;
        self.level(hash, old, new, BStr::new(b""), None, &mut emit)?;
        while let Some(pending) = self.queue.pop_front() {
            let old = read(objects, pending.old)?;
            let new = read(objects, pending.new)?;
            self.level(
                hash,
                &old,
                &new,
                pending.path.as_bstr(),
                pending.relation,
                &mut emit,
            )?;
        }
        Ok(())
    }

    /// Compares the entries of one tree pair at `prefix`; subtrees that differ are queued.
    fn level(
        &mut self,
        hash: gix::hash::Kind,
        old: &[u8],
        new: &[u8],
        prefix: &BStr,
        relation: Option<Relation>,
        emit: &mut impl FnMut(Change, &BStr),
    ) -> Result<(), gix::Error> {
        let (old, new) = differing_entries(old, new, hash.len_in_bytes());
        let mut old = TreeRefIter::from_bytes(old, hash).peekable();
        let mut new = TreeRefIter::from_bytes(new, hash).peekable();
        loop {
            let order = match (old.peek(), new.peek()) {
                (None, None) => return Ok(()),
                (Some(Ok(lhs)), Some(Ok(rhs))) => compare(lhs, rhs),
                (Some(Ok(_)), None) => std::cmp::Ordering::Less,
                (None, Some(Ok(_))) => std::cmp::Ordering::Greater,
                (Some(Err(_)), _) => return Err(malformed(old.next())),
                (_, Some(Err(_))) => return Err(malformed(new.next())),
            };
            match order {
                std::cmp::Ordering::Less => {
                    let lhs = next(&mut old);
                    self.one_side(Side::Old, lhs, prefix, relation, emit);
                }
                std::cmp::Ordering::Greater => {
                    let rhs = next(&mut new);
                    self.one_side(Side::New, rhs, prefix, relation, emit);
                }
                std::cmp::Ordering::Equal => {
                    let (lhs, rhs) = (next(&mut old), next(&mut new));
                    self.same_name(lhs, rhs, prefix, relation, emit);
                }
            }
        }
    }

    /// An entry only one tree has: a deletion or an addition (of a whole subtree, whose
    /// entries follow with a relation to it).
    fn one_side(
        &mut self,
        side: Side,
        entry: EntryRef<'_>,
        prefix: &BStr,
        relation: Option<Relation>,
        emit: &mut impl FnMut(Change, &BStr),
    ) {
        let is_tree = entry.mode.is_tree();
        let relation = relation.or_else(|| is_tree.then(|| self.new_parent()));
        let (entry_mode, oid) = (entry.mode, entry.oid.to_owned());
        let change = match side {
            Side::Old => Change::Deletion {
                entry_mode,
                oid,
                relation,
            },
            Side::New => Change::Addition {
                entry_mode,
                oid,
                relation,
            },
        };
        self.emit(prefix, entry.filename, change, emit);
        if is_tree {
            let (old, new) = match side {
                Side::Old => (Some(oid), None),
                Side::New => (None, Some(oid)),
            };
            self.queue(old, new, prefix, entry.filename, to_child(relation));
        }
    }

    /// Two entries of the same name (and both trees or both not, see [`compare`]).
    fn same_name(
        &mut self,
        lhs: EntryRef<'_>,
        rhs: EntryRef<'_>,
        prefix: &BStr,
        relation: Option<Relation>,
        emit: &mut impl FnMut(Change, &BStr),
    ) {
        let modification = Change::Modification {
            previous_entry_mode: lhs.mode,
            previous_oid: lhs.oid.to_owned(),
            entry_mode: rhs.mode,
            oid: rhs.oid.to_owned(),
        };
        match (lhs.mode.is_tree(), rhs.mode.is_tree()) {
            (true, true) => {
                if lhs.oid != rhs.oid {
                    self.emit(prefix, lhs.filename, modification, emit);
                    let (old, new) = (Some(lhs.oid.to_owned()), Some(rhs.oid.to_owned()));
                    self.queue(old, new, prefix, lhs.filename, relation);
                }
            }
            (false, false) => {
                if lhs.oid != rhs.oid || lhs.mode != rhs.mode {
                    self.emit(prefix, lhs.filename, modification, emit);
                }
            }
            // `name_order` sorts a tree after a non-tree of the same name, so these never
            // compare equal; gix handles them the same way as two separate entries.
            _ => {
                self.one_side(Side::Old, lhs, prefix, relation, emit);
                self.one_side(Side::New, rhs, prefix, relation, emit);
            }
        }
    }

    fn new_parent(&mut self) -> Relation {
        self.change_id += 1;
        Relation::Parent(self.change_id)
    }

    fn emit(
        &mut self,
        prefix: &BStr,
        name: &BStr,
        change: Change,
        emit: &mut impl FnMut(Change, &BStr),
    ) {
        self.path.clear();
        self.path.extend_from_slice(prefix);
        self.path.extend_from_slice(name);
        emit(change, self.path.as_bstr());
    }

    fn queue(
        &mut self,
        old: Option<ObjectId>,
        new: Option<ObjectId>,
        prefix: &BStr,
        name: &BStr,
        relation: Option<Relation>,
    ) {
        let mut path = BString::from(Vec::with_capacity(prefix.len() + name.len() + 1));
        path.extend_from_slice(prefix);
        path.extend_from_slice(name);
        path.push(b'/');
        self.queue.push_back(Pending {
            old,
            new,
            path,
            relation,
        });
    }
}

#[derive(Clone, Copy)]
enum Side {
    Old,
    New,
}

/// The entry just peeked at and found parsed.
fn next<'a>(entries: &mut std::iter::Peekable<TreeRefIter<'a>>) -> EntryRef<'a> {
    entries
        .next()
        .and_then(Result::ok)
        .expect("the peeked entry is there and parsed")
}

/// The error of an entry that did not parse.
fn malformed(entry: Option<Result<EntryRef<'_>, gix::Error>>) -> gix::Error {
    match entry {
        Some(Err(err)) => err,
        _ => gix::error::message("a tree entry is malformed").raise(),
    }
}

fn compare(a: &EntryRef<'_>, b: &EntryRef<'_>) -> std::cmp::Ordering {
    gix::objs::tree::name_order(a.filename, a.mode.is_tree(), b.filename, b.mode.is_tree())
}

fn to_child(relation: Option<Relation>) -> Option<Relation> {
    relation.map(|relation| match relation {
        Relation::Parent(id) | Relation::ChildOfParent(id) => Relation::ChildOfParent(id),
    })
}

/// Tree `id` (nothing if `None`), shared with the object cache rather than copied.
pub(crate) fn read(
    objects: &PackedObjects<'_>,
    id: Option<ObjectId>,
) -> Result<std::sync::Arc<Vec<u8>>, gix::Error> {
    let fail = |what| Err(gix::error::message(what).raise());
    let Some(id) = id.filter(|id| !id.is_empty_tree()) else {
        return Ok(Default::default());
    };
    match objects.object(&id)? {
        Some((gix::objs::Kind::Tree, data)) => Ok(data),
        Some(_) => fail("a tree entry's object is not a tree"),
        None => fail("a tree is missing"),
    }
}

/// Where the tree entry that starts at `at` ends (`<mode> <name>\0<id>`), if it is whole.
fn entry_end(tree: &[u8], at: usize, id_len: usize) -> Option<usize> {
    let name_end = at + tree.get(at..)?.find_byte(0)?;
    let end = name_end + 1 + id_len;
    (end <= tree.len()).then_some(end)
}

/// The entries of two trees that can differ: the runs of whole entries that are the same
/// bytes at the start and at the end of both are left out, as they make no change.
///
/// Entries are walked from the start (their ids are binary, so they cannot be found from the
/// end): over the common start, then through the middle until a boundary of `old` is followed
/// by the common end and the same place in `new` is a boundary too.
pub(crate) fn differing_entries<'a>(
    old: &'a [u8],
    new: &'a [u8],
    id_len: usize,
) -> (&'a [u8], &'a [u8]) {
    if old.is_empty() || new.is_empty() {
        return (old, new);
    }
    let same = numstat::same_start(old, new);
    let mut start = 0;
    while let Some(end) = entry_end(old, start, id_len).filter(|&end| end <= same) {
        start = end;
    }
    let (old_rest, new_rest) = (&old[start..], &new[start..]);
    let same_end = numstat::same_end(old_rest, new_rest);
    // Boundaries are offsets into the rests; the common end starts at `old_rest.len() -
    // same_end` in `old_rest`, at the same distance from the end in `new_rest`.
    let (mut old_at, mut new_at) = (0, 0);
    loop {
        if old_rest.len() - old_at <= same_end {
            let new_boundary = new_rest.len() - (old_rest.len() - old_at);
            while new_at < new_boundary {
                match entry_end(new_rest, new_at, id_len) {
                    Some(end) => new_at = end,
                    None => return (old_rest, new_rest),
                }
            }
            if new_at == new_boundary {
                return (&old_rest[..old_at], &new_rest[..new_at]);
            }
        }
        match entry_end(old_rest, old_at, id_len) {
            Some(end) => old_at = end,
            None => return (old_rest, new_rest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Random;

    /// Entries of a tree buffer, parsed the simple way.
    fn entries(tree: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < tree.len() {
            let end = entry_end(tree, at, 20).expect("whole entries");
            let name_end = end - 21;
            out.push((
                tree[at..name_end].to_vec(),
                tree[name_end + 1..end].to_vec(),
            ));
            at = end;
        }
        out
    }

    #[test]
    fn trees_are_trimmed_to_whole_differing_entries() {
        // Ids full of NULs, spaces and digits, so that a wrong boundary would parse.
        let mut random = Random(0x2545_f491_4f6c_dd1d);
        let mut next = move |n: u64| random.below(n as usize) as u64;
        for case in 0..2000 {
            let names = 1 + next(40);
            let mut old = Vec::new();
            let mut new = Vec::new();
            for name in 0..names {
                let id = |next: &mut dyn FnMut(u64) -> u64| -> Vec<u8> {
                    (0..20)
                        .map(|_| [0u8, b' ', b'1', b'0', b'a'][next(5) as usize])
                        .collect()
                };
                // Names of different lengths, so that entries do not line up by size.
                let name = format!("{}n{name:03}", "0".repeat(next(4) as usize));
                let entry = |id: &[u8]| {
                    let mut entry = format!("100644 {name}").into_bytes();
                    entry.push(0);
                    entry.extend_from_slice(id);
                    entry
                };
                let shared = id(&mut next);
                match next(8) {
                    0 => old.extend(entry(&shared)),
                    1 => new.extend(entry(&shared)),
                    2 => {
                        old.extend(entry(&shared));
                        new.extend(entry(&id(&mut next)));
                    }
                    _ => {
                        old.extend(entry(&shared));
                        new.extend(entry(&shared));
                    }
                }
            }
            let (old_part, new_part) = differing_entries(&old, &new, 20);
            let (full_old, full_new) = (entries(&old), entries(&new));
            let (part_old, part_new) = (entries(old_part), entries(new_part));
            let changed = |a: &[(Vec<u8>, Vec<u8>)], b: &[(Vec<u8>, Vec<u8>)]| {
                let mut changed: Vec<_> = a.iter().filter(|e| !b.contains(e)).cloned().collect();
                changed.extend(b.iter().filter(|e| !a.contains(e)).cloned());
                changed.sort();
                changed
            };
            assert_eq!(
                changed(&part_old, &part_new),
                changed(&full_old, &full_new),
                "case {case}"
            );
            if old == new {
                assert!(old_part.is_empty() && new_part.is_empty(), "case {case}");
            }
        }

        // The same bytes end both trees, but in `new` they are the end of one entry's name and
        // its id, not an entry of their own: nothing may be cut.
        let id = [7u8; 20];
        let mut old = b"100644 x\0".to_vec();
        old.extend_from_slice(&id);
        old.extend_from_slice(b"1 b\0");
        old.extend_from_slice(&id);
        let mut new = b"100644 yy1 b\0".to_vec();
        new.extend_from_slice(&id);
        assert_eq!(differing_entries(&old, &new, 20), (&old[..], &new[..]));
    }
}

#[cfg(test)]
mod against_gix {
    //! The changes are the ones gix's tree diff reports, in the same order, with the same
    //! relations, on random histories of nested trees.

    use std::collections::BTreeMap;

    use gix::objs::tree::{self, EntryKind};

    use super::*;
    use crate::extract::packs::Packs;
    use crate::testing::Random;

    #[derive(Clone)]
    enum Node {
        File(EntryKind, u64),
        Dir(BTreeMap<String, Node>),
    }

    /// Names that exercise git's tree order: `a` as a directory sorts after `a.b` and `a-b`
    /// (`a/` > `a.`), as a file before them.
    const NAMES: [&str; 7] = ["a", "a.b", "a-b", "ab", "b", "c0", "z"];

    fn file(random: &mut Random) -> Node {
        let kind = [
            EntryKind::Blob,
            EntryKind::Blob,
            EntryKind::BlobExecutable,
            EntryKind::Link,
            EntryKind::Commit,
        ][random.below(5)];
        Node::File(kind, random.below(6) as u64)
    }

    fn dir(random: &mut Random, depth: u32) -> Node {
        let mut entries = BTreeMap::new();
        // A long directory now and then, so that both ends are trimmed.
        let count = if random.below(4) == 0 {
            40
        } else {
            1 + random.below(5)
        };
        for _ in 0..count {
            let name = if count > 10 {
                format!("f{:02}", random.below(60))
            } else {
                NAMES[random.below(NAMES.len())].to_owned()
            };
            let node = if depth > 0 && random.below(3) == 0 {
                dir(random, depth - 1)
            } else {
                file(random)
            };
            entries.insert(name, node);
        }
        Node::Dir(entries)
    }

    /// Changes a few things somewhere in `node`.
    fn mutate(node: &mut Node, random: &mut Random, depth: u32) {
        let Node::Dir(entries) = node else { return };
        for _ in 0..1 + random.below(3) {
            let name = NAMES[random.below(NAMES.len())].to_owned();
            let name = match entries.keys().nth(random.below(entries.len() + 1)) {
                Some(existing) if random.below(2) == 0 => existing.clone(),
                _ => name,
            };
            let is_dir = matches!(entries.get(&name), Some(Node::Dir(_)));
            let len = entries.len();
            match random.below(6) {
                0 if len > 1 => {
                    entries.remove(&name);
                }
                1 | 2 if is_dir && depth > 0 => {
                    let child = entries.get_mut(&name).expect("a directory");
                    mutate(child, random, depth - 1);
                }
                3 if depth > 0 => {
                    entries.insert(name, dir(random, depth - 1));
                }
                _ => {
                    entries.insert(name, file(random));
                }
            }
        }
    }

    fn write(repo: &gix::Repository, node: &Node) -> (tree::EntryMode, ObjectId) {
        match node {
            Node::File(EntryKind::Commit, content) => {
                let id = ObjectId::from_bytes_or_panic(&[*content as u8 + 1; 20]);
                (EntryKind::Commit.into(), id)
            }
            Node::File(kind, content) => {
                let id = repo
                    .write_blob(format!("{content}\n"))
                    .expect("blob")
                    .detach();
                ((*kind).into(), id)
            }
            Node::Dir(entries) => {
                let mut entries: Vec<tree::Entry> = entries
                    .iter()
                    .map(|(name, node)| {
                        let (mode, oid) = write(repo, node);
                        tree::Entry {
                            mode,
                            filename: name.as_str().into(),
                            oid,
                        }
                    })
                    .collect();
                entries.sort();
                let id = repo
                    .write_object(gix::objs::Tree { entries })
                    .expect("tree");
                (EntryKind::Tree.into(), id.detach())
            }
        }
    }

    fn ours(objects: &PackedObjects<'_>, old: ObjectId, new: ObjectId) -> Vec<(Change, BString)> {
        let (old, new) = (
            read(objects, Some(old)).expect("old tree"),
            read(objects, Some(new)).expect("new tree"),
        );
        let mut changes = Vec::new();
        TreeDiff::default()
            .changes(
                objects,
                gix::hash::Kind::Sha1,
                &old,
                &new,
                |change, path| {
                    changes.push((change, path.to_owned()));
                },
            )
            .expect("diff");
        changes
    }

    fn theirs(repo: &gix::Repository, old: ObjectId, new: ObjectId) -> Vec<(Change, BString)> {
        use gix::diff::tree::recorder::Change as Recorded;
        let read = |id: ObjectId| {
            let data = repo.find_object(id).expect("tree").detach().data;
            if id.is_empty_tree() { Vec::new() } else { data }
        };
        let (old, new) = (read(old), read(new));
        let mut recorder = gix::diff::tree::Recorder::default();
        gix::diff::tree(
            TreeRefIter::from_bytes(&old, gix::hash::Kind::Sha1),
            TreeRefIter::from_bytes(&new, gix::hash::Kind::Sha1),
            gix::diff::tree::State::default(),
            &repo.objects,
            &mut recorder,
        )
        .expect("gix diff");
        recorder
            .records
            .into_iter()
            .map(|record| match record {
                Recorded::Addition {
                    entry_mode,
                    oid,
                    path,
                    relation,
                } => (
                    Change::Addition {
                        entry_mode,
                        oid,
                        relation,
                    },
                    path,
                ),
                Recorded::Deletion {
                    entry_mode,
                    oid,
                    path,
                    relation,
                } => (
                    Change::Deletion {
                        entry_mode,
                        oid,
                        relation,
                    },
                    path,
                ),
                Recorded::Modification {
                    previous_entry_mode,
                    previous_oid,
                    entry_mode,
                    oid,
                    path,
                } => (
                    Change::Modification {
                        previous_entry_mode,
                        previous_oid,
                        entry_mode,
                        oid,
                    },
                    path,
                ),
            })
            .collect()
    }

    #[test]
    fn changes_are_those_of_gix_tree_diff() {
        let scratch = tempfile::tempdir().expect("temporary directory");
        let repo = gix::init_bare(scratch.path()).expect("repository");
        let objects = PackedObjects::new(Packs::open(&repo, 1 << 20), &repo.objects);
        let empty = ObjectId::empty_tree(gix::hash::Kind::Sha1);
        let mut random = Random(0x9e37_79b9_7f4a_7c15);
        let mut changes = 0;
        for history in 0..40 {
            let mut node = dir(&mut random, 3);
            let mut versions = vec![empty, write(&repo, &node).1];
            for _ in 0..15 {
                mutate(&mut node, &mut random, 3);
                versions.push(write(&repo, &node).1);
            }
            versions.push(empty);
            for (step, pair) in versions.windows(2).enumerate() {
                let expected = theirs(&repo, pair[0], pair[1]);
                changes += expected.len();
                assert_eq!(
                    ours(&objects, pair[0], pair[1]),
                    expected,
                    "history {history}, step {step}"
                );
            }
            // Versions further apart, too.
            let expected = theirs(&repo, versions[1], versions[versions.len() - 2]);
            assert_eq!(
                ours(&objects, versions[1], versions[versions.len() - 2]),
                expected
            );
        }
        assert!(changes > 1000, "the histories change enough: {changes}");
    }
}

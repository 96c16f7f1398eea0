//! The order in which `git log` lists commits, reproduced over any commit graph.
//!
//! `git log [^SINCE] UNTIL` without ordering options walks a queue kept sorted by committer date
//! (newest first; equal dates leave in the order they were queued), shows each commit as it
//! leaves the queue and queues its unseen parents, first parent first. With an excluded
//! revision the walk is "limited" (`limit_list()` in git's `revision.c`): commits reachable from
//! SINCE are marked uninteresting as the walk meets them, the walk stops a few commits (the
//! "slop") after only uninteresting ones remain queued, and a commit is shown only if it is still
//! interesting once the walk has finished. This module reproduces that algorithm step by step,
//! including the slop and the propagation of the uninteresting mark, so that the order — and,
//! with clock skew, even the set — of commits equals git's.
//!
//! The graph is reached through [`CommitGraph`], so the algorithm is tested on small in-memory
//! graphs here and against real `git log` in `tests/`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;

/// Read access to commits: parents (in order) and committer time.
pub trait CommitGraph {
    /// A commit id.
    type Id: Copy + Eq + Hash;
    /// Why a commit could not be read.
    type Error;

    /// The parents of `id`, first parent first, and its committer time in seconds.
    fn load(&mut self, id: Self::Id) -> Result<(Vec<Self::Id>, i64), Self::Error>;
}

/// How many extra uninteresting commits git walks once only uninteresting ones are queued, to
/// tolerate clock skew (`SLOP` in `revision.c`).
const SLOP: u32 = 5;

const SEEN: u8 = 1;
const UNINTERESTING: u8 = 2;

struct Node<Id> {
    id: Id,
    time: i64,
    /// `None` until the commit is parsed (git parses a commit when it is queued).
    parents: Option<Vec<usize>>,
    flags: u8,
}

struct Walk<'g, G: CommitGraph> {
    graph: &'g mut G,
    nodes: Vec<Node<G::Id>>,
    index: HashMap<G::Id, usize>,
    /// Max-heap on (date, earliest queued first).
    queue: BinaryHeap<(i64, Reverse<u64>, usize)>,
    queued: u64,
}

impl<G: CommitGraph> Walk<'_, G> {
    fn node(&mut self, id: G::Id) -> usize {
        if let Some(&idx) = self.index.get(&id) {
            return idx;
        }
        let idx = self.nodes.len();
        self.nodes.push(Node {
            id,
            time: 0,
            parents: None,
            flags: 0,
        });
        self.index.insert(id, idx);
        idx
    }

    fn parse(&mut self, idx: usize) -> Result<(), G::Error> {
        if self.nodes[idx].parents.is_some() {
            return Ok(());
        }
        let (parent_ids, time) = self.graph.load(self.nodes[idx].id)?;
        let parents = parent_ids.into_iter().map(|id| self.node(id)).collect();
        let node = &mut self.nodes[idx];
        node.time = time;
        node.parents = Some(parents);
        Ok(())
    }

    fn parents(&self, idx: usize) -> Vec<usize> {
        self.nodes[idx].parents.clone().unwrap_or_default()
    }

    fn push(&mut self, idx: usize) {
        self.queue
            .push((self.nodes[idx].time, Reverse(self.queued), idx));
        self.queued += 1;
    }

    fn is(&self, idx: usize, flag: u8) -> bool {
        self.nodes[idx].flags & flag != 0
    }

    /// `mark_parents_uninteresting()`: marks the parents of `idx`, and the ancestors of those
    /// that are already parsed.
    fn mark_parents_uninteresting(&mut self, idx: usize) {
        let mut pending = self.parents(idx);
        while let Some(parent) = pending.pop() {
            if self.is(parent, UNINTERESTING) {
                continue;
            }
            self.nodes[parent].flags |= UNINTERESTING;
            pending.extend(self.parents(parent));
        }
    }

    /// `process_parents()`: parses and queues the unseen parents of `idx`, passing on its
    /// uninteresting mark.
    fn process_parents(&mut self, idx: usize) -> Result<(), G::Error> {
        let uninteresting = self.is(idx, UNINTERESTING);
        for parent in self.parents(idx) {
            if uninteresting {
                self.nodes[parent].flags |= UNINTERESTING;
            }
            self.parse(parent)?;
            if uninteresting {
                self.mark_parents_uninteresting(parent);
            }
            if !self.is(parent, SEEN) {
                self.nodes[parent].flags |= SEEN;
                self.push(parent);
            }
        }
        Ok(())
    }

    /// `everybody_uninteresting()`, with git's cache of the last interesting commit found.
    fn everybody_uninteresting(&self, cache: &mut Option<usize>) -> bool {
        if let Some(idx) = *cache
            && !self.is(idx, UNINTERESTING)
        {
            return false;
        }
        match self
            .queue
            .iter()
            .map(|&(_, _, idx)| idx)
            .find(|&idx| !self.is(idx, UNINTERESTING))
        {
            Some(idx) => {
                *cache = Some(idx);
                false
            }
            None => true,
        }
    }

    /// `still_interesting()`: how many more commits to walk (0: stop).
    fn still_interesting(&self, date: i64, slop: u32, cache: &mut Option<usize>) -> u32 {
        let Some(&(head_date, _, _)) = self.queue.peek() else {
            return 0;
        };
        if date <= head_date || !self.everybody_uninteresting(cache) {
            return SLOP;
        }
        slop - 1
    }
}

/// The commits `git log ^exclude… include…` shows, in the order it shows them.
///
/// `exclude` and `include` are the revisions as given on the command line, in order; git
/// queues the excluded ones first for `git log SINCE..UNTIL`.
pub fn log_order<G: CommitGraph>(
    graph: &mut G,
    exclude: &[G::Id],
    include: &[G::Id],
) -> Result<Vec<G::Id>, G::Error> {
    log_order_with(graph, exclude, include, &mut |_| {})
}

/// [`log_order`], also handing each commit to `shown` as soon as its place is final: while the
/// walk goes on when nothing is excluded (every commit leaves the queue in its final order),
/// at the end otherwise (a commit shown early may still turn out to be excluded).
pub fn log_order_with<G: CommitGraph>(
    graph: &mut G,
    exclude: &[G::Id],
    include: &[G::Id],
    shown_now: &mut dyn FnMut(G::Id),
) -> Result<Vec<G::Id>, G::Error> {
    let streaming = exclude.is_empty();
    let mut walk = Walk {
        graph,
        nodes: Vec::new(),
        index: HashMap::new(),
        queue: BinaryHeap::new(),
        queued: 0,
    };

    // `handle_commit()` then `prepare_revision_walk()`.
    let mut pending = Vec::with_capacity(exclude.len() + include.len());
    for &id in exclude {
        let idx = walk.node(id);
        walk.parse(idx)?;
        walk.nodes[idx].flags |= UNINTERESTING;
        walk.mark_parents_uninteresting(idx);
        pending.push(idx);
    }
    for &id in include {
        let idx = walk.node(id);
        walk.parse(idx)?;
        pending.push(idx);
    }
    for idx in pending {
        if !walk.is(idx, SEEN) {
            walk.nodes[idx].flags |= SEEN;
            walk.push(idx);
        }
    }

    // `limit_list()`.
    let mut shown = Vec::new();
    let mut date = i64::MAX;
    let mut slop = SLOP;
    let mut interesting_cache = None;
    while let Some((_, _, idx)) = walk.queue.pop() {
        if interesting_cache == Some(idx) {
            interesting_cache = None;
        }
        walk.process_parents(idx)?;
        if walk.is(idx, UNINTERESTING) {
            slop = walk.still_interesting(date, slop, &mut interesting_cache);
            if slop > 0 {
                continue;
            }
            break;
        }
        date = walk.nodes[idx].time;
        shown.push(idx);
        if streaming {
            shown_now(walk.nodes[idx].id);
        }
    }

    // A commit shown early may have been reached from an excluded one later (clock skew).
    let shown: Vec<G::Id> = shown
        .into_iter()
        .filter(|&idx| !walk.is(idx, UNINTERESTING))
        .map(|idx| walk.nodes[idx].id)
        .collect();
    if !streaming {
        shown.iter().for_each(|&id| shown_now(id));
    }
    Ok(shown)
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;

    /// Commits named by a char, each with its parents and a committer time.
    struct Graph(HashMap<char, (Vec<char>, i64)>);

    impl Graph {
        fn new(commits: &[(char, &str, i64)]) -> Self {
            Self(
                commits
                    .iter()
                    .map(|&(id, parents, time)| (id, (parents.chars().collect(), time)))
                    .collect(),
            )
        }

        fn log(&mut self, exclude: &str, include: &str) -> String {
            let exclude: Vec<char> = exclude.chars().collect();
            let include: Vec<char> = include.chars().collect();
            match log_order(self, &exclude, &include) {
                Ok(order) => order.into_iter().collect(),
                Err(never) => match never {},
            }
        }
    }

    impl CommitGraph for Graph {
        type Id = char;
        type Error = Infallible;

        fn load(&mut self, id: char) -> Result<(Vec<char>, i64), Infallible> {
            Ok(self.0.get(&id).cloned().unwrap_or_default())
        }
    }

    #[test]
    fn linear_history_is_newest_first() {
        let mut g = Graph::new(&[('a', "", 1), ('b', "a", 2), ('c', "b", 3)]);
        assert_eq!(g.log("", "c"), "cba");
    }

    #[test]
    fn merges_interleave_by_date() {
        // a - b - d - m
        //   \ c ----/
        let mut g = Graph::new(&[
            ('a', "", 1),
            ('b', "a", 2),
            ('c', "a", 3),
            ('d', "b", 4),
            ('m', "dc", 5),
        ]);
        assert_eq!(g.log("", "m"), "mdcba");
    }

    #[test]
    fn equal_dates_leave_in_queue_order() {
        // All at the same second: parents are queued first parent first, and leave in that order.
        let mut g = Graph::new(&[('a', "", 7), ('b', "a", 7), ('c', "a", 7), ('m', "bc", 7)]);
        assert_eq!(g.log("", "m"), "mbca");
    }

    #[test]
    fn excluded_ancestry_is_not_shown() {
        let mut g = Graph::new(&[('a', "", 1), ('b', "a", 2), ('c', "b", 3), ('d', "c", 4)]);
        assert_eq!(g.log("b", "d"), "dc");
        assert_eq!(g.log("d", "d"), "");
        assert_eq!(
            g.log("d", "b"),
            "",
            "excluding a descendant excludes everything"
        );
    }

    #[test]
    fn excluding_a_side_branch_keeps_the_other_side() {
        // a - b - m ; a - c - m ; exclude c: a and c go.
        let mut g = Graph::new(&[('a', "", 1), ('b', "a", 2), ('c', "a", 3), ('m', "bc", 4)]);
        assert_eq!(g.log("c", "m"), "mb");
    }

    #[test]
    fn clock_skew_is_tolerated_within_the_slop() {
        // `x` is reachable from the excluded `e` only through a commit dated before it; git's
        // slop keeps walking long enough to see that and hides `x` again.
        let mut g = Graph::new(&[
            ('r', "", 1),
            ('x', "r", 50),
            ('s', "x", 10),
            ('e', "s", 20),
            ('t', "x", 60),
        ]);
        assert_eq!(g.log("e", "t"), "t");
    }
}

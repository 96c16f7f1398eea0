//! Commits extracted on several threads, handed out in the order of the plan: the extract
//! stage as the pipeline (and the history benchmark) runs it. See [`ParallelExtract`].

use super::Extracted;
use super::packs::{self, Packs};
use super::{ExtractError, ExtractOptions, Extractor, Plan, WALK_CACHE_BYTES, plan_with};

/// Extraction threads: the available cores, at most 4 (tree and blob diffs of different
/// commits are independent; beyond a few threads the object database reads contend).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// At most this many consecutive commits of the plan go to one worker in a row. The previous
/// version of a file that one commit changes is usually read again by a commit shortly after
/// it in the plan; a worker that reads both finds its delta base in the cache
/// ([`packs`]).
const MAX_BLOCK: usize = 512;

/// Commits per block for `len` commits over `threads` workers.
fn block_size(len: usize, threads: usize) -> usize {
    len.div_ceil(threads).clamp(1, MAX_BLOCK)
}

/// The worker that extracts the plan's `index`-th commit.
fn worker_of(index: usize, block: usize, threads: usize) -> usize {
    (index / block) % threads
}

/// The plan's commits as the walk lists them, for the extraction workers: they start on the
/// first blocks while the walk is still going (it reads every commit of the range, over a
/// second on a large history).
#[derive(Debug, Default)]
struct Feed {
    state: std::sync::Mutex<FeedState>,
    changed: std::sync::Condvar,
}

#[derive(Debug, Default)]
struct FeedState {
    ids: Vec<gix::ObjectId>,
    /// The walk has listed every commit (or failed).
    done: bool,
    /// Commits per block: [`MAX_BLOCK`] once the plan is known to be that long, else decided
    /// by [`block_size`] when the walk is done.
    block: Option<usize>,
}

impl Feed {
    fn lock(&self) -> std::sync::MutexGuard<'_, FeedState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn push(&self, id: gix::ObjectId, threads: usize) {
        let mut state = self.lock();
        state.ids.push(id);
        let len = state.ids.len();
        if state.block.is_none() && len >= threads * MAX_BLOCK {
            state.block = Some(MAX_BLOCK);
        }
        // Workers wait for whole blocks.
        if state.block.is_some_and(|block| len.is_multiple_of(block)) {
            self.changed.notify_all();
        }
    }

    fn finish(&self, threads: usize) {
        let mut state = self.lock();
        state.done = true;
        let len = state.ids.len();
        state.block.get_or_insert_with(|| block_size(len, threads));
        self.changed.notify_all();
    }

    /// Commits per block, once decided.
    fn block(&self) -> usize {
        let mut state = self.lock();
        loop {
            if let Some(block) = state.block {
                return block;
            }
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// The commits of the `index`-th block, once the walk has listed them all (empty past the
    /// end of the plan).
    fn take(&self, index: usize, block: usize) -> Vec<gix::ObjectId> {
        let (start, end) = (index * block, (index + 1) * block);
        let mut state = self.lock();
        while !state.done && state.ids.len() < end {
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        let end = end.min(state.ids.len());
        state.ids.get(start..end).unwrap_or_default().to_vec()
    }
}

/// Commits extracted on worker threads, handed out in the plan's order.
///
/// Each worker has its own handle on the caller's object store, shared so that the packs are
/// mapped into memory once (and their delta base cache kept once), takes every n-th block of
/// consecutive commits (at most `MAX_BLOCK`, fewer when the plan is short so that every
/// worker has some), and sends its records through a bounded channel that holds two blocks (so
/// that it keeps working while the caller takes the other workers' blocks); the caller takes
/// them block by block, round-robin, so the order (and the output) is exactly that of a single
/// thread. Public for the history benchmark (`benches/history.rs`), which times extraction
/// alone.
#[derive(Debug)]
pub struct ParallelExtract {
    receivers: Vec<std::sync::mpsc::Receiver<Batch>>,
    /// Per worker, the records of its last batch not yet taken.
    pending: Vec<std::collections::VecDeque<Result<Extracted, ExtractError>>>,
    feed: std::sync::Arc<Feed>,
}

/// Records a worker sends at once: one wake-up of the caller per batch rather than per commit
/// (on two cores, each one also displaced a worker).
type Batch = Vec<Result<Extracted, ExtractError>>;

/// Records per [`Batch`], at most; a block's last batch goes when the block is done.
const BATCH: usize = 32;

impl ParallelExtract {
    /// Starts `threads` workers (at least one) over `commits`.
    pub fn spawn(
        repo: &gix::Repository,
        commits: &[gix::ObjectId],
        options: &ExtractOptions,
        threads: usize,
    ) -> Self {
        let threads = threads.clamp(1, commits.len().max(1));
        let packs = Packs::open(repo, packs::cache_bytes());
        let extract = Self::start(repo, packs, options, threads);
        for &id in commits {
            extract.feed.push(id, threads);
        }
        extract.feed.finish(threads);
        extract
    }

    /// Walks `since..until` ([`super::plan`]) while `threads` workers (at least one) extract
    /// the commits it has listed so far.
    pub fn plan_and_spawn(
        repo: &gix::Repository,
        since: Option<&str>,
        until: &str,
        options: &ExtractOptions,
        threads: usize,
    ) -> Result<(Plan, Self), ExtractError> {
        let threads = threads.max(1);
        let packs = Packs::open(repo, packs::cache_bytes());
        let walk_packs = packs.with_own_cache(WALK_CACHE_BYTES);
        let extract = Self::start(repo, packs, options, threads);
        let plan = plan_with(repo, &walk_packs, since, until, &mut |id| {
            extract.feed.push(id, threads);
        });
        // Also on failure: the workers then finish what they have and stop.
        extract.feed.finish(threads);
        Ok((plan?, extract))
    }

    fn start(
        repo: &gix::Repository,
        packs: Packs,
        options: &ExtractOptions,
        threads: usize,
    ) -> Self {
        let feed = std::sync::Arc::new(Feed::default());
        let shared = repo.clone().into_sync();
        let receivers = (0..threads)
            .map(|worker| {
                let (sender, receiver) = std::sync::mpsc::sync_channel(2 * MAX_BLOCK / BATCH);
                let (shared, feed, options, packs) =
                    (shared.clone(), feed.clone(), options.clone(), packs.clone());
                std::thread::spawn(move || {
                    let repo = shared.to_thread_local();
                    let mut extractor = match Extractor::with_packs(&repo, options, packs) {
                        Ok(extractor) => extractor,
                        Err(err) => {
                            let _ = sender.send(vec![Err(err)]);
                            return;
                        }
                    };
                    let block = feed.block();
                    for index in (worker..).step_by(threads) {
                        let ids = feed.take(index, block);
                        if ids.is_empty() {
                            return;
                        }
                        let last = ids.len() - 1;
                        let mut batch = Vec::with_capacity(BATCH);
                        for (at, id) in ids.into_iter().enumerate() {
                            let record = extractor.extract(id);
                            let failed = record.is_err();
                            batch.push(record);
                            if batch.len() == BATCH || at == last || failed {
                                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                                // A closed channel: the pipeline stopped early; so do we.
                                if sender.send(full).is_err() || failed {
                                    return;
                                }
                            }
                        }
                    }
                });
                receiver
            })
            .collect();
        Self {
            pending: (0..threads).map(|_| Default::default()).collect(),
            receivers,
            feed,
        }
    }

    /// The plan's `index`-th commit (asked for in order: 0, 1, 2, …).
    pub fn next(&mut self, index: usize) -> Result<Extracted, ExtractError> {
        let block = self.feed.block();
        let worker = worker_of(index, block, self.receivers.len());
        let pending = &mut self.pending[worker];
        if pending.is_empty() {
            let batch = self.receivers[worker]
                .recv()
                .map_err(|_| ExtractError::ThreadStopped)?;
            pending.extend(batch);
        }
        pending.pop_front().ok_or(ExtractError::ThreadStopped)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_take_blocks_round_robin_while_the_walk_goes_on() {
        let id = |index: usize| {
            let mut bytes = [0u8; 20];
            bytes[..8].copy_from_slice(&(index as u64).to_be_bytes());
            gix::ObjectId::from_bytes_or_panic(&bytes)
        };
        let index_of = |id: &gix::ObjectId| {
            u64::from_be_bytes(id.as_bytes()[..8].try_into().expect("8 bytes")) as usize
        };
        for (len, threads) in [
            (0, 1),
            (1, 4),
            (5, 2),
            (398, 2),
            (1000, 3),
            (5000, 2),
            (5000, 4),
        ] {
            let feed = std::sync::Arc::new(Feed::default());
            let workers: Vec<_> = (0..threads)
                .map(|worker| {
                    let feed = feed.clone();
                    std::thread::spawn(move || {
                        let block = feed.block();
                        let mut mine = Vec::new();
                        for index in (worker..).step_by(threads) {
                            let ids = feed.take(index, block);
                            if ids.is_empty() {
                                return (block, mine);
                            }
                            mine.extend(ids);
                        }
                        unreachable!("the blocks end")
                    })
                })
                .collect();
            // The walk lists the commits while the workers wait for theirs.
            for index in 0..len {
                feed.push(id(index), threads);
            }
            feed.finish(threads);
            let mut taken = vec![None; len];
            for (worker, handle) in workers.into_iter().enumerate() {
                let (block, mine) = handle.join().expect("worker");
                assert_eq!(block, block_size(len, threads));
                assert!((1..=MAX_BLOCK).contains(&block));
                let mine: Vec<usize> = mine.iter().map(index_of).collect();
                assert!(
                    len < threads * block || !mine.is_empty(),
                    "{len} commits, {threads} workers: worker {worker} idle"
                );
                assert!(mine.windows(2).all(|pair| pair[0] < pair[1]));
                for index in mine {
                    assert_eq!(taken[index].replace(worker), None, "taken twice");
                    assert_eq!(worker_of(index, block, threads), worker);
                }
            }
            assert!(taken.iter().all(Option::is_some), "every commit taken");
        }
    }
}

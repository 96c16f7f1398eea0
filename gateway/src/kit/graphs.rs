//! The web UI's commit graphs in memory: an analysis' `graph.json` (the whole graph,
//! [`GraphData`]) is read and parsed once per gateway, and the windows of rows a report page
//! asks for as it scrolls are cut from it. Bounded by the graphs' size (least recently used
//! first out); a graph being loaded is loaded once however many pages ask for it at once.

use std::future::Future;
use std::sync::{Arc, Mutex};

use gitview_report::graph::GraphData;
use tokio::sync::OnceCell;

use crate::error::ApiError;

/// The graphs kept, at most, in bytes of their `graph.json` (parsed, a graph takes about
/// twice that): git/git's 82,000 commits make a 6 MB graph.
pub const GRAPH_CACHE_BYTES: usize = 32 << 20;

/// Graphs by account and analysis.
#[derive(Debug)]
pub(crate) struct GraphCache {
    entries: Mutex<Entries>,
    budget: usize,
}

#[derive(Debug, Default)]
struct Entries {
    list: Vec<Entry>,
    clock: u64,
}

#[derive(Debug)]
struct Entry {
    account: i64,
    analysis: String,
    graph: Arc<OnceCell<Arc<GraphData>>>,
    /// Its `graph.json`'s bytes, once loaded.
    bytes: usize,
    used: u64,
}

impl Default for GraphCache {
    fn default() -> Self {
        Self::new(GRAPH_CACHE_BYTES)
    }
}

impl GraphCache {
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            entries: Mutex::default(),
            budget,
        }
    }

    /// The graph of `analysis`, loaded by `load` (its parsed `graph.json` and that file's
    /// size; `None` when the analysis has none, which is not kept) unless it is here.
    pub(crate) async fn get<F, Fut>(
        &self,
        account: i64,
        analysis: &str,
        load: F,
    ) -> Result<Option<Arc<GraphData>>, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<(GraphData, usize)>, ApiError>>,
    {
        let cell = {
            let mut entries = self.lock();
            entries.clock += 1;
            let now = entries.clock;
            let found = entries
                .list
                .iter_mut()
                .find(|e| e.account == account && e.analysis == analysis);
            match found {
                Some(entry) => {
                    entry.used = now;
                    entry.graph.clone()
                }
                None => {
                    let graph = Arc::new(OnceCell::new());
                    entries.list.push(Entry {
                        account,
                        analysis: analysis.to_owned(),
                        graph: graph.clone(),
                        bytes: 0,
                        used: now,
                    });
                    graph
                }
            }
        };
        let mut size = None;
        let loaded = cell
            .get_or_try_init(|| async {
                match load().await {
                    Ok(Some((graph, bytes))) => {
                        size = Some(bytes);
                        Ok(Arc::new(graph))
                    }
                    Ok(None) => Err(None),
                    Err(err) => Err(Some(err)),
                }
            })
            .await
            .cloned();
        let graph = match loaded {
            Ok(graph) => graph,
            Err(failed) => {
                // Nothing to keep: the entry goes, so the next request tries again.
                self.lock().list.retain(|e| !Arc::ptr_eq(&e.graph, &cell));
                return match failed {
                    None => Ok(None),
                    Some(err) => Err(err),
                };
            }
        };
        if let Some(bytes) = size {
            self.keep(&cell, bytes);
        }
        Ok(Some(graph))
    }

    /// Records the size of the graph `cell` just loaded, and drops the least recently used
    /// others while the graphs are over the budget.
    fn keep(&self, cell: &Arc<OnceCell<Arc<GraphData>>>, bytes: usize) {
        let mut entries = self.lock();
        if let Some(entry) = entries
            .list
            .iter_mut()
            .find(|e| Arc::ptr_eq(&e.graph, cell))
        {
            entry.bytes = bytes;
        }
        while entries.list.iter().map(|e| e.bytes).sum::<usize>() > self.budget {
            let oldest = entries
                .list
                .iter()
                .enumerate()
                .filter(|(_, e)| !Arc::ptr_eq(&e.graph, cell) && e.graph.initialized())
                .min_by_key(|(_, e)| e.used)
                .map(|(i, _)| i);
            match oldest {
                Some(i) => {
                    entries.list.swap_remove(i);
                }
                None => break,
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while the lock was held leaves the list whole: every change is one call.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The analyses whose graphs are kept (for tests).
    #[cfg(test)]
    fn kept(&self) -> Vec<String> {
        let mut kept: Vec<String> = self
            .lock()
            .list
            .iter()
            .filter(|e| e.graph.initialized())
            .map(|e| e.analysis.clone())
            .collect();
        kept.sort();
        kept
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn graph(n: usize) -> GraphData {
        GraphData {
            n,
            ..GraphData::default()
        }
    }

    #[tokio::test]
    async fn a_graph_is_loaded_once_and_the_least_recently_used_leave_over_the_budget() {
        let cache = GraphCache::new(100);
        let loads = AtomicUsize::new(0);
        let load = |n: usize| {
            let loads = &loads;
            move || async move {
                loads.fetch_add(1, Ordering::SeqCst);
                Ok(Some((graph(n), 40)))
            }
        };
        assert_eq!(cache.get(1, "a", load(1)).await.unwrap().unwrap().n, 1);
        assert_eq!(
            cache.get(1, "a", load(9)).await.unwrap().unwrap().n,
            1,
            "kept"
        );
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        // Another account's analysis of the same name is another graph.
        assert_eq!(cache.get(2, "a", load(2)).await.unwrap().unwrap().n, 2);
        cache.get(1, "a", load(9)).await.unwrap();
        // A third 40-byte graph is over the budget of 100: the least recently used goes.
        cache.get(1, "b", load(3)).await.unwrap();
        assert_eq!(cache.kept(), ["a", "b"]);
        assert_eq!(loads.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_missing_graph_or_a_failed_load_is_not_kept() {
        let cache = GraphCache::new(100);
        let none = cache
            .get(1, "a", || async { Ok(None::<(GraphData, usize)>) })
            .await
            .unwrap();
        assert!(none.is_none());
        let failed = cache
            .get(1, "a", || async {
                Err::<Option<(GraphData, usize)>, _>(ApiError::unavailable("store down"))
            })
            .await;
        assert!(failed.is_err());
        assert!(cache.kept().is_empty());
        assert!(cache.lock().list.is_empty(), "no entry left behind");
        let loaded = cache
            .get(1, "a", || async { Ok(Some((graph(5), 10))) })
            .await
            .unwrap();
        assert_eq!(loaded.unwrap().n, 5);
    }
}

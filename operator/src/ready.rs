//! A watch cache's readiness, for any number of waiting tasks.
//!
//! kube-runtime's `Store::wait_until_ready` resolves through a `futures` oneshot channel, which
//! keeps the waker of only the task that polled it last: when several tasks wait at once, the
//! store filling wakes one of them and the others wait forever. The Controller runs every
//! reconcile in a task of its own, so reconciles that waited for a cache at start-up (a tracker
//! created, or listed, before the cache of its Analyses was) never ended — and since a running
//! reconcile holds its object, those objects were never reconciled again. [`Ready`] has one
//! future wait on the store and tells every waiter through a `watch` channel, which wakes them
//! all.

use std::future::Future;

use kube::runtime::reflector::{Lookup, Store};
use tokio::sync::watch;

/// Whether a store has been filled by its first list.
#[derive(Clone, Debug)]
pub struct Ready(watch::Receiver<bool>);

impl Ready {
    /// The readiness of `store`, and the future that tells it: it must run beside the waiters
    /// (it ends once the store is ready, or its writer is gone).
    pub fn of<K>(store: Store<K>) -> (Self, impl Future<Output = ()> + Send + 'static)
    where
        K: Lookup + Clone + Send + Sync + 'static,
        K::DynamicType: Eq + std::hash::Hash + Clone + Send + Sync,
    {
        let (tell, ready) = watch::channel(false);
        let forward = async move {
            // The only task that waits on the store itself. A writer dropped before the store
            // was filled drops `tell` too, and the waiters learn it will never be ready.
            if store.wait_until_ready().await.is_ok() {
                let _ = tell.send(true);
            }
        };
        (Self(ready), forward)
    }

    /// Waits until the store is ready; `false` if it never will be.
    pub async fn wait(&self) -> bool {
        self.0.clone().wait_for(|ready| *ready).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::reflector;
    use kube::runtime::watcher::Event;

    use super::*;

    const WAITERS: usize = 4;

    /// Spawns [`WAITERS`] tasks on this (single-threaded) runtime that each `wait`, lets them all
    /// block, fills the store, lets every woken task run, and returns how many finished.
    async fn finished_after_the_store_fills<F, Fut>(
        store: Store<ConfigMap>,
        mut writer: reflector::store::Writer<ConfigMap>,
        wait: F,
    ) -> usize
    where
        F: Fn(Store<ConfigMap>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let finished = Arc::new(AtomicUsize::new(0));
        for _ in 0..WAITERS {
            let (waiting, finished) = (wait(store.clone()), finished.clone());
            tokio::spawn(async move {
                waiting.await;
                finished.fetch_add(1, Ordering::SeqCst);
            });
        }
        for _ in 0..WAITERS * 4 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            finished.load(Ordering::SeqCst),
            0,
            "the store is not ready yet"
        );
        for event in [Event::Init, Event::InitDone] {
            writer.apply_watcher_event(&event);
        }
        for _ in 0..WAITERS * 4 {
            tokio::task::yield_now().await;
        }
        finished.load(Ordering::SeqCst)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn every_waiting_task_is_told_the_store_is_ready() {
        let (store, writer) = reflector::store::<ConfigMap>();
        let (ready, tell) = Ready::of(store.clone());
        tokio::spawn(tell);
        let finished = finished_after_the_store_fills(store, writer, move |_| {
            let ready = ready.clone();
            async move {
                assert!(ready.wait().await);
            }
        })
        .await;
        assert_eq!(finished, WAITERS);
    }

    /// Why [`Ready`] exists: the store's own readiness wakes one of the tasks waiting on it. If
    /// this starts failing, kube-runtime fixed it and [`Ready`] can go.
    #[tokio::test(flavor = "current_thread")]
    async fn the_stores_own_readiness_wakes_only_one_waiting_task() {
        let (store, writer) = reflector::store::<ConfigMap>();
        let finished = finished_after_the_store_fills(store, writer, |store| async move {
            store.wait_until_ready().await.expect("the writer lives");
        })
        .await;
        assert_eq!(
            finished, 1,
            "kube-runtime's Store::wait_until_ready now wakes every waiter"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_store_whose_writer_is_gone_is_never_ready() {
        let (store, writer) = reflector::store::<ConfigMap>();
        let (ready, tell) = Ready::of(store);
        drop(writer);
        tell.await;
        assert!(!ready.wait().await);
    }
}

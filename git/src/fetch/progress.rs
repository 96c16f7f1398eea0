//! Fetch progress as structured `tracing` events.
//!
//! gix reports progress into a `prodash` tree (counters it updates lock-free). A sampler thread
//! reads the tree every [`Reporter`] interval and logs each task whose counter moved since the
//! last sample — one `fetch progress` event per moving task per interval, so a long transfer
//! logs a line a second or so, whatever the object rate. A [`ProgressHook`], if given, sees
//! the same samples (the pod's runner reports them to the gateway as the `fetch` stage).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use gix::progress::tree::Root;

/// One sample of a fetch task that moved: `done` of `total` (when known) in the task's unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchProgress {
    /// gix's name of the task (`refs`, `read pack`, `indexing`, ...).
    pub task: String,
    pub done: u64,
    pub total: Option<u64>,
}

/// Called on the sampler thread with each sample; it should return quickly.
#[derive(Clone)]
pub struct ProgressHook(Arc<dyn Fn(&FetchProgress) + Send + Sync>);

impl ProgressHook {
    pub fn new(hook: impl Fn(&FetchProgress) + Send + Sync + 'static) -> Self {
        Self(Arc::new(hook))
    }
}

impl std::fmt::Debug for ProgressHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressHook")
    }
}

/// Samples a progress tree on a thread until dropped.
#[derive(Debug)]
pub(crate) struct Reporter {
    root: Arc<Root>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Reporter {
    /// Starts sampling every `interval`; events carry `url` (already redacted), and `hook`
    /// sees each sample.
    pub(crate) fn start(url: String, interval: Duration, hook: Option<ProgressHook>) -> Self {
        let root = Root::new();
        let (stop, stopped) = mpsc::channel::<()>();
        let sampled = Arc::clone(&root);
        // Events go to the caller's subscriber, not only the global one.
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let thread = std::thread::Builder::new()
            .name("fetch-progress".into())
            .spawn(move || {
                let _guard = tracing::dispatcher::set_default(&dispatch);
                let mut last = HashMap::new();
                let mut snapshot = Vec::new();
                loop {
                    let finished = match stopped.recv_timeout(interval) {
                        Err(RecvTimeoutError::Timeout) => false,
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
                    };
                    sample(&sampled, &url, hook.as_ref(), &mut snapshot, &mut last);
                    if finished {
                        return;
                    }
                }
            })
            .ok();
        Self {
            root,
            stop: Some(stop),
            thread,
        }
    }

    /// A new top-level progress item to hand to gix.
    pub(crate) fn item(&self, name: &str) -> gix::progress::tree::Item {
        self.root.add_child(name.to_owned())
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        // Dropping the sender wakes the thread for a last sample.
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn sample(
    root: &Root,
    url: &str,
    hook: Option<&ProgressHook>,
    snapshot: &mut Vec<(gix::progress::prodash::progress::Key, gix::progress::Task)>,
    last: &mut HashMap<String, usize>,
) {
    root.sorted_snapshot(snapshot);
    for (_, task) in snapshot.iter() {
        let Some(value) = &task.progress else {
            continue;
        };
        let done = value.step.load(std::sync::atomic::Ordering::Relaxed);
        let previous = last.insert(task.name.clone(), done);
        if done == 0 || previous == Some(done) {
            continue;
        }
        let mut unit = String::new();
        if let Some(display) = &value.unit {
            // Writing to a String cannot fail.
            let _ = display.as_display_value().display_unit(&mut unit, done);
        }
        tracing::info!(
            url,
            task = %task.name,
            done,
            total = value.done_at,
            unit = unit.as_str(),
            "fetch progress"
        );
        if let Some(hook) = hook {
            (hook.0)(&FetchProgress {
                task: task.name.clone(),
                done: done as u64,
                total: value.done_at.map(|total| total as u64),
            });
        }
    }
}

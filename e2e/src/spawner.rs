//! One thread that lives as long as the process, on which every long-lived child process of
//! the suite is started.
//!
//! The suite's children die with it through `PR_SET_PDEATHSIG` (`setpriv --pdeathsig KILL`),
//! but Linux sends that signal when the *thread* that forked the child exits, not the process.
//! Tokio retires threads (a worker that entered `block_in_place` ends up in the blocking pool,
//! which lets idle threads go after ten seconds), so a child started from one of them could be
//! killed mid-test — an operator, or a pod's process. Started from this thread, which never
//! exits, they die only with the suite.

use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

type Job = Box<dyn FnOnce() + Send>;

static SPAWNER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();

/// Runs `f` (which starts a process) on the spawner thread, inside the caller's Tokio runtime
/// if there is one (so `tokio::process` works there), and returns its result.
pub fn on_spawner_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let sender = SPAWNER.get_or_init(|| {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("e2e-spawner".to_owned())
            .spawn(move || {
                for job in queue {
                    job();
                }
            })
            .expect("the spawner thread starts");
        Mutex::new(jobs)
    });
    let runtime = tokio::runtime::Handle::try_current().ok();
    let (done, result) = mpsc::sync_channel(1);
    let job: Job = Box::new(move || {
        let _entered = runtime.as_ref().map(tokio::runtime::Handle::enter);
        let _ = done.send(f());
    });
    sender
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .send(job)
        .expect("the spawner thread never exits");
    result.recv().expect("the spawner thread ran the job")
}

#[cfg(test)]
mod tests {
    #[test]
    fn jobs_run_on_one_long_lived_thread() {
        let first = super::on_spawner_thread(|| std::thread::current().id());
        let second =
            std::thread::spawn(|| super::on_spawner_thread(|| std::thread::current().id()))
                .join()
                .expect("joined");
        assert_eq!(first, second);
        assert_ne!(first, std::thread::current().id());
    }
}

//! Whether an analysis' story tells the whole history, remembered: a stored story never
//! changes, so the pages that need only which analysis is a repository's current one read no
//! story after the first time. Bounded: past [`REMEMBERED`] analyses it starts over.

use std::collections::HashMap;
use std::sync::Mutex;

/// Analyses remembered, at most (about 100 bytes each).
pub const REMEMBERED: usize = 100_000;

/// By account and analysis.
#[derive(Debug, Default)]
pub(crate) struct WholeHistories {
    known: Mutex<HashMap<(i64, String), bool>>,
}

impl WholeHistories {
    pub(crate) fn get(&self, account: i64, analysis: &str) -> Option<bool> {
        self.lock().get(&(account, analysis.to_owned())).copied()
    }

    pub(crate) fn set(&self, account: i64, analysis: &str, whole: bool) {
        let mut known = self.lock();
        if known.len() >= REMEMBERED {
            known.clear();
        }
        known.insert((account, analysis.to_owned()), whole);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(i64, String), bool>> {
        // Every change is one call: a panic elsewhere leaves the map whole.
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_kept_per_account_and_analysis() {
        let known = WholeHistories::default();
        assert_eq!(known.get(1, "a"), None);
        known.set(1, "a", true);
        known.set(2, "a", false);
        assert_eq!(
            (known.get(1, "a"), known.get(2, "a")),
            (Some(true), Some(false))
        );
        for i in 0..REMEMBERED {
            known.set(3, &i.to_string(), true);
        }
        assert!(known.lock().len() <= REMEMBERED, "bounded");
    }
}

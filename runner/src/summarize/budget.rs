//! Which parts of the story get a model call: the [`ModelBudget`] rule, a pure function.
//!
//! * `None`: no call at all; every phase is summarized without a model (extractively) and
//!   there is no overview — the story a run without a model writes.
//! * `Minimal`: only the executive overview; the phases are summarized extractively.
//! * `Balanced` (the default when a model is configured): the overview and the
//!   [`BALANCED_PHASES`] largest phases by commits (ties: the earlier phase); the others
//!   extractively.
//! * `Full`: every phase and the overview.
//!
//! A phase summarized by the model costs one call per chunk, plus the combinations of a phase
//! of several chunks; the overview is one call.

use std::collections::BTreeSet;

pub use gitview_crds::v1alpha1::ModelBudget;

/// Under `Balanced`, at most this many phases get a model call.
pub const BALANCED_PHASES: usize = 4;

/// What gets a model call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelPlan {
    /// The executive overview.
    pub overview: bool,
    /// The phases (their 1-based numbers) the model summarizes.
    pub phases: BTreeSet<usize>,
}

/// The plan of `budget` over phases of `commits[i]` commits each (phase `i + 1`).
pub fn plan(budget: ModelBudget, commits: &[u64]) -> ModelPlan {
    let numbers = 1..=commits.len();
    match budget {
        ModelBudget::None => ModelPlan::default(),
        ModelBudget::Minimal => ModelPlan {
            overview: true,
            phases: BTreeSet::new(),
        },
        ModelBudget::Full => ModelPlan {
            overview: true,
            phases: numbers.collect(),
        },
        ModelBudget::Balanced => {
            let mut order: Vec<usize> = numbers.collect();
            // Largest first; the sort is stable, so ties keep the earlier phase first.
            order.sort_by_key(|&n| std::cmp::Reverse(commits[n - 1]));
            ModelPlan {
                overview: true,
                phases: order.into_iter().take(BALANCED_PHASES).collect(),
            }
        }
    }
}

/// The budget's name as `analysis.json` and the CLI spell it.
pub fn name(budget: ModelBudget) -> &'static str {
    match budget {
        ModelBudget::None => "none",
        ModelBudget::Minimal => "minimal",
        ModelBudget::Balanced => "balanced",
        ModelBudget::Full => "full",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phases(plan: &ModelPlan) -> Vec<usize> {
        plan.phases.iter().copied().collect()
    }

    #[test]
    fn none_calls_nothing_and_minimal_only_the_overview() {
        let commits = [5, 50, 7];
        assert_eq!(plan(ModelBudget::None, &commits), ModelPlan::default());
        let minimal = plan(ModelBudget::Minimal, &commits);
        assert!(minimal.overview);
        assert!(minimal.phases.is_empty());
    }

    #[test]
    fn full_calls_every_phase_and_the_overview() {
        let full = plan(ModelBudget::Full, &[1, 2, 3, 4, 5, 6]);
        assert!(full.overview);
        assert_eq!(phases(&full), [1, 2, 3, 4, 5, 6]);
        assert_eq!(plan(ModelBudget::Full, &[]).phases.len(), 0);
    }

    #[test]
    fn balanced_takes_the_largest_phases_up_to_the_cap() {
        // Phases 4, 2 and 7 are the largest, then 3 and 6 with 9 commits each: the earlier wins.
        let commits = [3, 40, 9, 100, 1, 9, 12];
        let balanced = plan(ModelBudget::Balanced, &commits);
        assert!(balanced.overview);
        assert_eq!(phases(&balanced), [2, 3, 4, 7]);
        // Fewer phases than the cap: all of them.
        assert_eq!(phases(&plan(ModelBudget::Balanced, &[2, 1])), [1, 2]);
        assert_eq!(BALANCED_PHASES, 4);
    }

    #[test]
    fn budgets_have_their_cli_names() {
        let names: Vec<&str> = [
            ModelBudget::None,
            ModelBudget::Minimal,
            ModelBudget::Balanced,
            ModelBudget::Full,
        ]
        .into_iter()
        .map(name)
        .collect();
        assert_eq!(names, ["none", "minimal", "balanced", "full"]);
        assert_eq!(ModelBudget::default(), ModelBudget::Balanced);
    }
}

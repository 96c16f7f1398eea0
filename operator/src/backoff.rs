//! Retry arithmetic.

use std::time::Duration;

use gitview_crds::v1alpha1::Backoff;

/// Wait before the attempt after `failed_attempts` failures:
/// `min(initial * factor^(failed_attempts - 1), max)`, saturating.
pub fn delay(backoff: &Backoff, failed_attempts: u32) -> Duration {
    let initial = u64::try_from(backoff.initial_seconds.max(0)).unwrap_or(0);
    let factor = u64::try_from(backoff.factor.max(1)).unwrap_or(1);
    let max = u64::try_from(backoff.max_seconds.max(0)).unwrap_or(0);
    let exponent = failed_attempts.saturating_sub(1);
    let multiplier = factor.checked_pow(exponent).unwrap_or(u64::MAX);
    Duration::from_secs(initial.saturating_mul(multiplier).min(max))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff(initial: i32, factor: i32, max: i32) -> Backoff {
        Backoff {
            initial_seconds: initial,
            factor,
            max_seconds: max,
        }
    }

    #[test]
    fn grows_geometrically_until_the_cap() {
        let b = backoff(10, 2, 600);
        let waits: Vec<u64> = (1..=8).map(|n| delay(&b, n).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 600, 600]);
    }

    #[test]
    fn factor_one_is_constant() {
        let b = backoff(7, 1, 600);
        assert!((1..=20).all(|n| delay(&b, n).as_secs() == 7));
    }

    #[test]
    fn huge_exponents_saturate_at_the_cap() {
        let b = backoff(3600, 10, 86400);
        assert_eq!(delay(&b, 1000).as_secs(), 86400);
        assert_eq!(delay(&b, u32::MAX).as_secs(), 86400);
    }

    #[test]
    fn zero_failures_waits_the_initial_delay() {
        assert_eq!(delay(&backoff(5, 3, 100), 0).as_secs(), 5);
    }
}

//! When to try again: exponential backoff with jitter, as a pure function of the attempt number
//! and a random draw, so the sequence is testable without a clock.

/// amqp-client's defaults: 1 s, doubling, at most 30 s, unlimited attempts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub initial_ms: u64,
    pub multiplier: f64,
    pub max_ms: u64,
    /// `None` retries for as long as the session lives.
    pub max_attempts: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial_ms: 1_000,
            multiplier: 2.0,
            max_ms: 30_000,
            max_attempts: None,
        }
    }
}

impl Backoff {
    /// The ceiling for the `attempt`-th retry (1-based): initial × multiplier^(attempt−1), capped.
    pub fn ceiling_ms(&self, attempt: u32) -> u64 {
        let exp = self
            .multiplier
            .max(1.0)
            .powi(attempt.saturating_sub(1).min(64) as i32);
        let ms = self.initial_ms as f64 * exp;
        if ms.is_finite() && ms < self.max_ms as f64 {
            ms as u64
        } else {
            self.max_ms
        }
    }

    /// The delay before the `attempt`-th retry, given a draw `unit` in [0, 1): "equal jitter",
    /// half fixed and half random, so clients that lost the same broker spread out but none
    /// retries at once.
    pub fn delay_ms(&self, attempt: u32, unit: f64) -> u64 {
        let ceiling = self.ceiling_ms(attempt);
        let half = ceiling / 2;
        half + ((ceiling - half) as f64 * unit.clamp(0.0, 1.0)) as u64
    }

    /// Whether another attempt may start after `made` attempts failed.
    pub fn allows(&self, made: u32) -> bool {
        self.max_attempts.is_none_or(|max| made < max)
    }
}

/// A small xorshift generator for jitter; the quality needed is "not in lockstep".
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    pub fn new(seed: u64) -> Jitter {
        Jitter(seed | 1)
    }

    /// A draw in [0, 1).
    pub fn next_unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_up_to_the_maximum() {
        let b = Backoff::default();
        let ceilings: Vec<u64> = (1..=7).map(|a| b.ceiling_ms(a)).collect();
        assert_eq!(
            ceilings,
            [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]
        );
        assert_eq!(b.ceiling_ms(u32::MAX), 30_000);
    }

    #[test]
    fn delays_stay_between_half_the_ceiling_and_the_ceiling() {
        let b = Backoff {
            initial_ms: 100,
            ..Backoff::default()
        };
        assert_eq!(b.delay_ms(1, 0.0), 50);
        assert_eq!(b.delay_ms(1, 0.999_999), 99);
        assert_eq!(b.delay_ms(3, 0.5), 300);
        let mut j = Jitter::new(42);
        for attempt in 1..20 {
            let d = b.delay_ms(attempt, j.next_unit());
            let c = b.ceiling_ms(attempt);
            assert!(d >= c / 2 && d <= c, "attempt {attempt}: {d} of {c}");
        }
    }

    #[test]
    fn max_attempts_bounds_the_retries() {
        let b = Backoff {
            max_attempts: Some(3),
            ..Backoff::default()
        };
        assert!(b.allows(0) && b.allows(2));
        assert!(!b.allows(3));
        assert!(Backoff::default().allows(u32::MAX - 1));
    }

    #[test]
    fn jitter_draws_are_units_and_vary() {
        let mut j = Jitter::new(7);
        let draws: Vec<f64> = (0..100).map(|_| j.next_unit()).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        let distinct = draws.windows(2).filter(|w| w[0] != w[1]).count();
        assert!(distinct > 90);
    }
}

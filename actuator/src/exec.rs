//! Execution helpers: a per-backend rate limiter and retries with backoff.
//!
//! Both wait only through the [`Clock`] seam, so the same code runs in the
//! simulator's virtual time and in production. The concurrency limit itself
//! is a semaphore held by [`crate::fleet::FleetActuator`]; the rate limiter
//! spaces out calls to one backend (containerd, CNI, the load balancer) so a
//! thousand-container scale-out does not stampede a daemon.

use std::future::Future;
use std::sync::Mutex;

use crest_core::Clock;
use crest_core::seams::SeamError;
use serde::{Deserialize, Serialize};

/// Spaces calls to one backend at `rate_per_s`, allowing bursts of `burst`.
///
/// A leaky bucket: each call reserves the next free slot; callers whose slot
/// is in the future wait for it. A rate of 0 means unlimited.
#[derive(Debug)]
pub struct RateLimiter {
    interval_ms: f64,
    burst: f64,
    next_ms: Mutex<f64>,
}

impl RateLimiter {
    /// A limiter for `rate_per_s` calls per second (0 = unlimited) with bursts of `burst`.
    pub fn new(rate_per_s: f64, burst: u32) -> Self {
        let interval_ms = if rate_per_s > 0.0 && rate_per_s.is_finite() {
            1000.0 / rate_per_s
        } else {
            0.0
        };
        RateLimiter {
            interval_ms,
            burst: f64::from(burst.max(1)),
            next_ms: Mutex::new(f64::MIN),
        }
    }

    /// Wait for a slot.
    pub async fn acquire<C: Clock>(&self, clock: &C) {
        if self.interval_ms <= 0.0 {
            return;
        }
        #[allow(clippy::cast_precision_loss)] // epoch ms fit a f64 exactly until year 287396
        let now = clock.now().millis() as f64;
        let slot = {
            let mut next = self
                .next_ms
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // The bucket may hold up to `burst` unused slots, no more.
            let earliest = now - self.interval_ms * (self.burst - 1.0);
            let slot = next.max(earliest);
            *next = slot + self.interval_ms;
            slot
        };
        if slot > now {
            #[allow(clippy::cast_possible_truncation)]
            let at = crest_core::Timestamp(slot.ceil() as i64);
            clock.sleep_until(at).await;
        }
    }
}

/// How often and how patiently to retry a failed backend call.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all (1 = no retry).
    pub attempts: u32,
    /// First backoff, ms; doubles each time.
    pub base_ms: u64,
    /// Backoff cap, ms.
    pub max_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base_ms: 100,
            max_ms: 2_000,
        }
    }
}

impl RetryPolicy {
    /// Backoff before attempt `k` (1-based retry number).
    pub fn backoff_ms(&self, k: u32) -> u64 {
        let shift = k.saturating_sub(1).min(20);
        self.base_ms.saturating_mul(1 << shift).min(self.max_ms)
    }
}

/// Run `op` until it succeeds, fails with a non-retryable error, or the
/// attempts run out; back off between attempts through `clock`.
///
/// # Errors
/// The last error `op` returned.
pub async fn retry<C, T, F, Fut>(policy: &RetryPolicy, clock: &C, mut op: F) -> Result<T, SeamError>
where
    C: Clock,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SeamError>>,
{
    let mut k = 0;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retryable() && k + 1 < policy.attempts.max(1) => {
                k += 1;
                let wait = i64::try_from(policy.backoff_ms(k)).unwrap_or(i64::MAX);
                clock.sleep_until(clock.now().add_millis(wait)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crest_core::seams::SeamErrorKind;
    use crest_core::{Timestamp, VirtualClock};
    use std::sync::atomic::{AtomicU32, Ordering};

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn limiter_spaces_calls_after_the_burst() {
        let clock = VirtualClock::new(Timestamp(0));
        let rl = RateLimiter::new(10.0, 3);
        block_on(async {
            for _ in 0..3 {
                rl.acquire(&clock).await;
            }
            assert_eq!(clock.now(), Timestamp(0), "burst of 3 is free");
            rl.acquire(&clock).await;
            rl.acquire(&clock).await;
        });
        // Two more calls at 10/s: the virtual clock moved on by ~200 ms.
        assert!(
            (100..=200).contains(&clock.now().millis()),
            "{:?}",
            clock.now()
        );
    }

    #[test]
    fn unlimited_limiter_never_waits() {
        let clock = VirtualClock::new(Timestamp(5));
        let rl = RateLimiter::new(0.0, 1);
        block_on(async {
            for _ in 0..100 {
                rl.acquire(&clock).await;
            }
        });
        assert_eq!(clock.now(), Timestamp(5));
    }

    #[test]
    fn retry_backs_off_on_retryable_and_stops_on_rejected() {
        let clock = VirtualClock::new(Timestamp(0));
        let policy = RetryPolicy {
            attempts: 4,
            base_ms: 100,
            max_ms: 250,
        };
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = block_on(retry(&policy, &clock, || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(SeamError::new("t", SeamErrorKind::Unavailable, "down")) }
        }));
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(clock.now(), Timestamp(100 + 200 + 250));

        let calls = AtomicU32::new(0);
        let r: Result<(), _> = block_on(retry(&policy, &clock, || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(SeamError::new("t", SeamErrorKind::Rejected, "no")) }
        }));
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}

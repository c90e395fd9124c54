//! The `Clock` seam: the only way crest's libraries learn the time or wait.
//!
//! Policies and planners never read the system clock. In the simulator a
//! [`VirtualClock`] is advanced by the event queue, so a two-day holiday replays
//! in milliseconds; in production a [`WallClock`] follows real time. The same
//! policy code runs under either, which is the point of the design.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Timestamp;

/// A source of time that can also be waited on.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Timestamp;
    /// Resolve once the clock reads `t` or later.
    fn sleep_until(&self, t: Timestamp) -> impl Future<Output = ()> + Send;
}

/// Virtual time for the simulator: it moves only when told to.
///
/// `sleep_until` completes at once and moves the clock forward to `t` (never
/// back), so a driver polled by the event loop never sees a pending future.
/// Clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct VirtualClock {
    now_ms: Arc<AtomicI64>,
}

impl VirtualClock {
    /// A virtual clock reading `start`.
    pub fn new(start: Timestamp) -> Self {
        VirtualClock {
            now_ms: Arc::new(AtomicI64::new(start.millis())),
        }
    }

    /// Set the time (the event loop does this before each event).
    pub fn set(&self, t: Timestamp) {
        self.now_ms.store(t.millis(), Ordering::Release);
    }

    /// Move forward to `t` if `t` is later than now.
    pub fn advance_to(&self, t: Timestamp) {
        self.now_ms.fetch_max(t.millis(), Ordering::AcqRel);
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.now_ms.load(Ordering::Acquire))
    }

    fn sleep_until(&self, t: Timestamp) -> impl Future<Output = ()> + Send {
        self.advance_to(t);
        std::future::ready(())
    }
}

/// Real time, for production. Works under any async runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct WallClock;

impl Clock for WallClock {
    #[allow(clippy::disallowed_methods)] // the one place the system clock is read
    fn now(&self) -> Timestamp {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Timestamp(ms)
    }

    fn sleep_until(&self, t: Timestamp) -> impl Future<Output = ()> + Send {
        let wait_ms = (t.millis() - self.now().millis()).max(0);
        futures_timer::Delay::new(Duration::from_millis(wait_ms.unsigned_abs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_clock_only_moves_forward_on_sleep() {
        let c = VirtualClock::new(Timestamp(1_000));
        let c2 = c.clone();
        futures_lite_block_on(c.sleep_until(Timestamp(5_000)));
        assert_eq!(c2.now(), Timestamp(5_000));
        futures_lite_block_on(c.sleep_until(Timestamp(2_000)));
        assert_eq!(c.now(), Timestamp(5_000));
        c.set(Timestamp(10));
        assert_eq!(c.now(), Timestamp(10));
    }

    #[test]
    fn wall_clock_is_after_2020() {
        assert!(WallClock.now() > Timestamp::from_secs(1_577_836_800));
    }

    /// Poll a future that must be ready at once (a pending one is a bug here).
    fn futures_lite_block_on<F: Future<Output = ()>>(f: F) {
        use std::pin::pin;
        use std::task::{Context, Poll, Waker};
        let mut f = pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(f.as_mut().poll(&mut cx), Poll::Ready(())));
    }
}

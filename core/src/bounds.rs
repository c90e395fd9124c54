//! Bounds on the numbers users hand crest, and the work estimate that refuses
//! a run too big to finish.
//!
//! Why: a number from a flag, a TOML scenario or a JSON document reaches loops,
//! allocations and time arithmetic. Unchecked, `step_s = 2^61` divides by zero
//! once multiplied into milliseconds, `--horizon 1000000000` aborts in the
//! allocator, `evaluate_every_s = 1e-300` never finishes and `--rate 1/1e300s`
//! saturates to `i64::MAX` seconds and prints nonsense. Each edge (CLI parser,
//! deserialiser, scenario validation) builds one of the validated types here,
//! so every crate shares one set of bounds, and a run whose size is known only
//! from several numbers together is priced by a [`WorkEstimate`] and refused
//! by [`WorkLimits`] with the estimate in the message and the flag that raises
//! the limit.
//!
//! The bounds are generous for real use: steps up to a year, durations up to
//! a century, intervals down to a millisecond, a hundred thousand replicas.

use std::fmt;

use crate::{CoreError, Timestamp};

/// Longest step of a series or forecast: a (leap) year, in seconds.
pub const MAX_STEP_S: i64 = 366 * 86_400;
/// Longest duration crest accepts (lead times, rate periods, run lengths,
/// horizons): about a century, in seconds. Far inside `i64` milliseconds.
pub const MAX_DURATION_S: i64 = 100 * 366 * 86_400;
/// Longest period of a rate limit (`150/5m`): a day, in seconds. A slower
/// limit cannot scale anything within a holiday.
pub const MAX_RATE_PERIOD_S: i64 = 86_400;
/// Shortest repeating interval (evaluation period, overdispersion interval),
/// in seconds: a millisecond, crest's time resolution.
pub const MIN_INTERVAL_S: f64 = 1e-3;
/// Largest magnitude of a series value crest reads: 10^15 (integers stay
/// exact in an `f64`, and models' sums of squares stay far from overflow,
/// where 1e308 made every forecast 0).
pub const MAX_ABS_VALUE: f64 = 1e15;
/// Most replicas of one app crest plans or starts.
pub const MAX_REPLICAS: u32 = 100_000;
/// Latest instant a plan, forecast or series may reach: 9999-12-31T23:59:59Z
/// (the last instant every date format crest writes can show).
pub const MAX_TIMESTAMP: Timestamp = Timestamp::from_millis(253_402_300_799_000);
/// Earliest such instant: 0000-01-01T00:00:00Z.
pub const MIN_TIMESTAMP: Timestamp = Timestamp::from_millis(-62_167_219_200_000);

fn out_of_range(what: &str, value: impl fmt::Display, expected: String) -> CoreError {
    CoreError::OutOfRange {
        what: what.to_string(),
        value: value.to_string(),
        expected,
    }
}

/// A float as a person reads it: `1e300`, not three hundred digits.
pub fn show(x: f64) -> String {
    if x != 0.0 && x.is_finite() && !(1e-3..1e9).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// A series or forecast step: whole seconds in `1..=MAX_STEP_S`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StepSecs(i64);

impl StepSecs {
    /// Validate a step; `what` names it in the error (e.g. "--resample").
    ///
    /// # Errors
    /// [`CoreError::OutOfRange`] outside `1..=MAX_STEP_S`.
    pub fn try_new(what: &str, step_s: i64) -> Result<Self, CoreError> {
        if (1..=MAX_STEP_S).contains(&step_s) {
            Ok(StepSecs(step_s))
        } else {
            Err(out_of_range(
                what,
                step_s,
                format!("a step of 1 to {MAX_STEP_S} seconds (a year)"),
            ))
        }
    }

    /// The step in seconds.
    pub const fn get(self) -> i64 {
        self.0
    }
}

/// A length of time in seconds: finite, in `0..=MAX_DURATION_S`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct DurationSecs(f64);

impl DurationSecs {
    /// Validate a duration (0 allowed).
    ///
    /// # Errors
    /// [`CoreError::OutOfRange`] for NaN, negative or longer than a century.
    pub fn try_new(what: &str, s: f64) -> Result<Self, CoreError> {
        if s.is_finite() && (0.0..=MAX_DURATION_S as f64).contains(&s) {
            Ok(DurationSecs(s))
        } else {
            Err(out_of_range(
                what,
                show(s),
                format!("a time of 0 to {MAX_DURATION_S} s (a century)"),
            ))
        }
    }

    /// Validate a repeating interval: at least [`MIN_INTERVAL_S`].
    ///
    /// # Errors
    /// [`CoreError::OutOfRange`] below a millisecond, above a century, or NaN.
    pub fn interval(what: &str, s: f64) -> Result<Self, CoreError> {
        if s.is_finite() && (MIN_INTERVAL_S..=MAX_DURATION_S as f64).contains(&s) {
            Ok(DurationSecs(s))
        } else {
            Err(out_of_range(
                what,
                show(s),
                format!("an interval of {MIN_INTERVAL_S} to {MAX_DURATION_S} s"),
            ))
        }
    }

    /// The duration in seconds.
    pub const fn get(self) -> f64 {
        self.0
    }

    /// Whole seconds, rounded (exact: the bound keeps it far inside `i64`).
    pub fn whole_secs(self) -> i64 {
        self.0.round() as i64
    }
}

/// A replica count in `0..=MAX_REPLICAS`.
///
/// # Errors
/// [`CoreError::OutOfRange`] above [`MAX_REPLICAS`].
pub fn check_replicas(what: &str, n: u32) -> Result<u32, CoreError> {
    if n <= MAX_REPLICAS {
        Ok(n)
    } else {
        Err(out_of_range(
            what,
            n,
            format!("at most {MAX_REPLICAS} replicas"),
        ))
    }
}

/// A count in `lo..=hi` (scenarios, origins, horizon steps).
///
/// # Errors
/// [`CoreError::OutOfRange`] outside the range.
pub fn check_count(what: &str, n: u64, lo: u64, hi: u64) -> Result<u64, CoreError> {
    if (lo..=hi).contains(&n) {
        Ok(n)
    } else {
        Err(out_of_range(what, n, format!("a count of {lo} to {hi}")))
    }
}

/// An instant inside [`MIN_TIMESTAMP`]..=[`MAX_TIMESTAMP`].
///
/// # Errors
/// [`CoreError::OutOfRange`] outside years 0..=9999.
pub fn check_instant(what: &str, t: Timestamp) -> Result<Timestamp, CoreError> {
    if (MIN_TIMESTAMP..=MAX_TIMESTAMP).contains(&t) {
        Ok(t)
    } else {
        Err(out_of_range(
            what,
            format!("{} ms since the epoch", t.millis()),
            "an instant in the years 0 to 9999".into(),
        ))
    }
}

/// Check a regular time grid (`len` points from `start`, `step_s` apart):
/// a valid step, and every point an instant in years 0..=9999. Checked
/// arithmetic, so no overflow whatever the inputs.
///
/// # Errors
/// [`CoreError::OutOfRange`] naming `what`.
pub fn check_grid(what: &str, start: Timestamp, step_s: i64, len: usize) -> Result<(), CoreError> {
    StepSecs::try_new(&format!("{what} step"), step_s)?;
    check_instant(&format!("{what} start"), start)?;
    let last = i64::try_from(len.saturating_sub(1))
        .ok()
        .and_then(|n| n.checked_mul(step_s))
        .and_then(|s| s.checked_mul(1000))
        .and_then(|ms| start.millis().checked_add(ms))
        .map(Timestamp::from_millis);
    match last {
        Some(t) => check_instant(&format!("{what} end"), t).map(|_| ()),
        None => Err(out_of_range(
            &format!("{what} end"),
            format!("{len} steps of {step_s} s"),
            "an instant in the years 0 to 9999".into(),
        )),
    }
}

/// The size of a run, estimated before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WorkEstimate {
    /// Events (simulated requests, evaluations, model fits, points) it handles.
    pub events: f64,
    /// Bytes of memory it holds at once.
    pub bytes: f64,
}

impl WorkEstimate {
    /// An estimate of `events` events and `bytes` bytes.
    pub fn new(events: f64, bytes: f64) -> Self {
        WorkEstimate { events, bytes }
    }

    /// Both estimates added.
    #[must_use]
    pub fn plus(self, other: WorkEstimate) -> Self {
        WorkEstimate {
            events: self.events + other.events,
            bytes: self.bytes + other.bytes,
        }
    }
}

/// The largest run crest starts without being asked: events and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkLimits {
    /// Most events (`--max-events`).
    pub max_events: u64,
    /// Most memory, in MiB (`--max-memory-mb`).
    pub max_memory_mb: u64,
}

impl WorkLimits {
    /// Default limits: ten billion events (minutes, not hours, of work) and
    /// 4 GiB of memory.
    pub const DEFAULT: WorkLimits = WorkLimits {
        max_events: 10_000_000_000,
        max_memory_mb: 4096,
    };

    /// Refuse `what` when its estimate exceeds a limit (or is NaN).
    ///
    /// # Errors
    /// [`CoreError::TooMuchWork`] with the estimate, the limit and the flags
    /// that raise it.
    pub fn check(&self, what: &str, est: WorkEstimate) -> Result<(), CoreError> {
        let max_bytes = self.max_memory_mb as f64 * 1024.0 * 1024.0;
        // Within means `x <= max`, which NaN never is.
        let within = |x: f64, max: f64| x.partial_cmp(&max).is_some_and(|o| o.is_le());
        if !within(est.events, self.max_events as f64) || !within(est.bytes, max_bytes) {
            return Err(CoreError::TooMuchWork {
                what: what.to_string(),
                events: est.events,
                memory_mb: est.bytes / (1024.0 * 1024.0),
                max_events: self.max_events,
                max_memory_mb: self.max_memory_mb,
            });
        }
        Ok(())
    }
}

impl Default for WorkLimits {
    fn default() -> Self {
        WorkLimits::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_durations_and_intervals_have_bounds() {
        assert!(StepSecs::try_new("s", 60).is_ok());
        assert!(StepSecs::try_new("s", 0).is_err());
        assert!(StepSecs::try_new("s", 1 << 61).is_err());
        assert!(DurationSecs::try_new("d", 0.0).is_ok());
        assert!(DurationSecs::try_new("d", 1e300).is_err());
        assert!(DurationSecs::try_new("d", f64::NAN).is_err());
        assert!(DurationSecs::interval("i", 1e-300).is_err());
        assert!(DurationSecs::interval("i", 0.5).is_ok());
        assert!(check_replicas("r", u32::MAX).is_err());
        assert!(check_replicas("r", 100).is_ok());
    }

    #[test]
    fn grids_never_overflow() {
        assert!(check_grid("f", Timestamp::EPOCH, 3600, 24).is_ok());
        assert!(check_grid("f", Timestamp::EPOCH, MAX_STEP_S, usize::MAX).is_err());
        assert!(check_grid("f", Timestamp(i64::MAX - 5), 60, 2).is_err());
        let e = check_grid("forecast", Timestamp::EPOCH, 1 << 61, 2).unwrap_err();
        assert!(e.to_string().contains("forecast step"), "{e}");
    }

    #[test]
    fn work_limits_name_the_estimate_and_the_flag() {
        let l = WorkLimits::DEFAULT;
        assert!(l.check("x", WorkEstimate::new(1e6, 1e6)).is_ok());
        let e = l
            .check("the run", WorkEstimate::new(1e15, 0.0))
            .unwrap_err();
        let s = e.to_string();
        assert!(s.contains("1.0e15") && s.contains("--max-events"), "{s}");
        assert!(l.check("x", WorkEstimate::new(f64::NAN, 0.0)).is_err());
        assert!(l.check("x", WorkEstimate::new(0.0, 1e12)).is_err());
    }
}

//! Parsers and output helpers the commands share.

use anyhow::{Context, bail};
use clap::ValueEnum;
use crest_autoscaler::planner::RateLimit;
use crest_core::bounds::{self, MAX_RATE_PERIOD_S};
use crest_core::{DurationSecs, Timestamp, WorkLimits};

/// `--max-events` and `--max-memory-mb`: the largest run a command starts
/// (its work estimate is checked against these before it runs).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct LimitArgs {
    /// Refuse a run estimated to take more events than this (simulated
    /// requests, model fits, steps).
    #[arg(long, value_name = "N", default_value_t = WorkLimits::DEFAULT.max_events)]
    pub max_events: u64,
    /// Refuse a run estimated to hold more memory than this (MiB).
    #[arg(long, value_name = "MIB", default_value_t = WorkLimits::DEFAULT.max_memory_mb)]
    pub max_memory_mb: u64,
}

impl LimitArgs {
    /// The limits.
    pub fn limits(self) -> WorkLimits {
        WorkLimits {
            max_events: self.max_events,
            max_memory_mb: self.max_memory_mb,
        }
    }
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for people.
    Table,
    /// JSON for machines.
    Json,
}

/// Parse `p90`, `p97.5`, `0.9` or `90%` into a quantile level.
pub(crate) fn parse_risk(s: &str) -> anyhow::Result<f64> {
    let t = s.trim();
    let v = if let Some(p) = t.strip_prefix('p').or_else(|| t.strip_prefix('P')) {
        p.parse::<f64>().map(|x| x / 100.0)
    } else if let Some(p) = t.strip_suffix('%') {
        p.parse::<f64>().map(|x| x / 100.0)
    } else {
        t.parse::<f64>()
    }
    .with_context(|| format!("failed to read --risk {s:?}: expected p90, p97.5 or 0.9"))?;
    if !(v > 0.0 && v < 1.0) {
        bail!("failed to read --risk {s:?}: expected a level strictly between 0 and 1");
    }
    Ok(v)
}

/// Parse `30s`, `5m`, `2h`, `1d` or plain seconds.
pub(crate) fn parse_duration_s(s: &str) -> anyhow::Result<i64> {
    let t = s.trim();
    let (num, mul) = match t.chars().last() {
        Some('s') => (&t[..t.len() - 1], 1),
        Some('m') => (&t[..t.len() - 1], 60),
        Some('h') => (&t[..t.len() - 1], 3600),
        Some('d') => (&t[..t.len() - 1], 86_400),
        _ => (t, 1),
    };
    let v: f64 = num
        .trim()
        .parse()
        .with_context(|| format!("failed to read duration {s:?}: expected e.g. 30s, 5m, 2h"))?;
    if !(v.is_finite() && v >= 0.0) {
        bail!("failed to read duration {s:?}: expected a non-negative number");
    }
    let d = DurationSecs::try_new(&format!("duration {s:?}"), v * f64::from(mul))?;
    Ok(d.whole_secs())
}

/// Parse `150/5m` (instances per period).
pub(crate) fn parse_rate(s: &str) -> anyhow::Result<RateLimit> {
    let (n, p) = s
        .split_once('/')
        .with_context(|| format!("failed to read rate {s:?}: expected N/PERIOD, e.g. 150/5m"))?;
    let n: u32 = n
        .trim()
        .parse()
        .with_context(|| format!("failed to read rate {s:?}: {n:?} is not a whole number"))?;
    let p = parse_duration_s(p)?;
    if n == 0 || p <= 0 {
        bail!("failed to read rate {s:?}: expected at least 1 instance per period > 0 s");
    }
    if p > MAX_RATE_PERIOD_S {
        bail!(
            "failed to read rate {s:?}: expected a period of at most {MAX_RATE_PERIOD_S} s (a day)"
        );
    }
    bounds::check_replicas(&format!("rate {s:?}"), n)?;
    Ok(RateLimit::new(n, p))
}

/// Parse a date (`2014-11-27`, UTC midnight), a naive date-time or RFC 3339.
pub(crate) fn parse_instant(s: &str) -> anyhow::Result<Timestamp> {
    let t = s.trim();
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        let dt = d.and_hms_opt(0, 0, 0).context("failed to build midnight")?;
        return Ok(Timestamp::from_naive_utc(&dt));
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(t, fmt) {
            return Ok(Timestamp::from_naive_utc(&dt));
        }
    }
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(t) {
        return Ok(Timestamp::from_datetime(&dt));
    }
    bail!("failed to read time {s:?}: expected 2014-11-27, 2014-11-27 18:00 or RFC 3339")
}

/// Parse a replica count (`crest scale`, `--min`, `--max`): at most
/// [`bounds::MAX_REPLICAS`].
pub(crate) fn parse_replicas(s: &str) -> anyhow::Result<u32> {
    let n: u32 = s
        .trim()
        .parse()
        .with_context(|| format!("failed to read replicas {s:?}: expected a whole number"))?;
    Ok(bounds::check_replicas("replicas", n)?)
}

/// Write to stdout; a closed pipe (`| head`) is not an error.
pub(crate) fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("failed to write to stdout"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_risk("p90").unwrap(), 0.9);
        assert_eq!(parse_risk("p97.5").unwrap(), 0.975);
        assert_eq!(parse_risk("0.5").unwrap(), 0.5);
        assert!(parse_risk("p100").is_err());
        assert_eq!(parse_duration_s("5m").unwrap(), 300);
        assert_eq!(parse_duration_s("90").unwrap(), 90);
        assert!(parse_duration_s("-1s").is_err());
        assert_eq!(parse_rate("150/5m").unwrap(), RateLimit::new(150, 300));
        assert!(parse_rate("0/5m").is_err());
        assert_eq!(
            parse_instant("1970-01-02").unwrap(),
            Timestamp::from_secs(86_400)
        );
        assert_eq!(
            parse_instant("1970-01-01T01:00:00+01:00").unwrap(),
            Timestamp::from_secs(0)
        );
    }

    mod properties {
        //! Every CLI number parser, fed any text and every family of absurd
        //! numbers the hostile run used (1e300, 1e-300, 2^61, u32::MAX,
        //! i64::MIN, NaN, inf, negative zero), either refuses with an error or
        //! returns a value inside `crest_core::bounds` — never a panic, never
        //! a wrapped or saturated value.

        use super::super::*;
        use crest_core::bounds::{MAX_DURATION_S, MAX_REPLICAS};
        use proptest::prelude::*;

        /// Numbers as a hostile user writes them.
        fn number() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<f64>().prop_map(|f| f.to_string()),
                any::<f64>().prop_map(|f| format!("{f:e}")),
                any::<i64>().prop_map(|i| i.to_string()),
                any::<u64>().prop_map(|i| i.to_string()),
                (-400i32..400).prop_map(|e| format!("1e{e}")),
                (0u32..128).prop_map(|e| format!("{}", 2f64.powi(e as i32))),
                Just("NaN".to_string()),
                Just("inf".to_string()),
                Just("-0".to_string()),
                Just("4294967295".to_string()),
                Just("9223372036854775807".to_string()),
                Just("-9223372036854775808".to_string()),
                "[0-9.eE+-]{0,24}",
            ]
        }

        fn unit() -> impl Strategy<Value = &'static str> {
            prop_oneof![
                Just(""),
                Just("s"),
                Just("m"),
                Just("h"),
                Just("d"),
                Just("x")
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn durations_are_refused_or_bounded(n in number(), u in unit()) {
                if let Ok(d) = parse_duration_s(&format!("{n}{u}")) {
                    prop_assert!((0..=MAX_DURATION_S).contains(&d), "{n}{u} -> {d}");
                }
            }

            #[test]
            fn rates_are_refused_or_bounded(k in number(), p in number(), u in unit()) {
                if let Ok(r) = parse_rate(&format!("{k}/{p}{u}")) {
                    prop_assert!((1..=MAX_REPLICAS).contains(&r.instances));
                    prop_assert!((1..=MAX_RATE_PERIOD_S).contains(&r.period_s));
                }
            }

            #[test]
            fn replica_counts_are_refused_or_bounded(n in number()) {
                if let Ok(r) = parse_replicas(&n) {
                    prop_assert!(r <= MAX_REPLICAS);
                }
            }

            #[test]
            fn risks_are_refused_or_levels(n in number(), pre in prop_oneof![Just(""), Just("p")], pct in any::<bool>()) {
                let s = format!("{pre}{n}{}", if pct { "%" } else { "" });
                if let Ok(r) = parse_risk(&s) {
                    prop_assert!(r > 0.0 && r < 1.0, "{s} -> {r}");
                }
            }

            #[test]
            fn instants_never_panic(s in "\\PC{0,32}", n in number()) {
                let _ = parse_instant(&s);
                let _ = parse_instant(&n);
            }

            #[test]
            fn any_text_never_panics(s in "\\PC{0,40}") {
                let _ = parse_duration_s(&s);
                let _ = parse_rate(&s);
                let _ = parse_replicas(&s);
                let _ = parse_risk(&s);
            }
        }
    }
}

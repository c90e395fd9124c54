//! Parsers and output helpers the commands share.

use anyhow::{Context, bail};
use clap::ValueEnum;
use crest_autoscaler::planner::RateLimit;
use crest_core::Timestamp;

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
    Ok((v * f64::from(mul)).round() as i64)
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
}

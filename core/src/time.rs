//! Instants in time as crest passes them around.
//!
//! A [`Timestamp`] is milliseconds since the Unix epoch in UTC: one integer, cheap
//! to copy and compare, exact to add, the same in the simulator's virtual time and
//! in production. [`TimeFormat`] remembers how the user's input wrote its times so
//! that outputs (a forecast CSV) can write them back the same way.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::CoreError;

/// Milliseconds since 1970-01-01T00:00:00Z.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The epoch itself.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// From whole seconds since the epoch.
    pub const fn from_secs(s: i64) -> Self {
        Timestamp(s * 1000)
    }

    /// From whole seconds since the epoch, `None` when the milliseconds
    /// overflow an `i64` (where [`Timestamp::from_secs`] would wrap, in a
    /// release build, to a wrong instant such as 1970-01-01).
    pub const fn checked_from_secs(s: i64) -> Option<Self> {
        match s.checked_mul(1000) {
            Some(ms) => Some(Timestamp(ms)),
            None => None,
        }
    }

    /// From milliseconds since the epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    /// Whole milliseconds since the epoch.
    pub const fn millis(self) -> i64 {
        self.0
    }

    /// Seconds since the epoch (floored).
    pub const fn secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// Seconds since the epoch as a float (for simulation arithmetic).
    pub fn secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// This instant plus `s` seconds.
    pub const fn add_secs(self, s: i64) -> Self {
        Timestamp(self.0 + s * 1000)
    }

    /// This instant plus `ms` milliseconds.
    pub const fn add_millis(self, ms: i64) -> Self {
        Timestamp(self.0 + ms)
    }

    /// As a chrono UTC date-time.
    ///
    /// # Errors
    /// [`CoreError::TimestampOutOfRange`] when chrono cannot represent it.
    pub fn to_datetime(self) -> Result<DateTime<Utc>, CoreError> {
        Utc.timestamp_millis_opt(self.0)
            .single()
            .ok_or(CoreError::TimestampOutOfRange { millis: self.0 })
    }

    /// From a chrono date-time in any zone.
    pub fn from_datetime<Tz: TimeZone>(dt: &DateTime<Tz>) -> Self {
        Timestamp(dt.timestamp_millis())
    }

    /// From a naive date-time read as UTC.
    pub fn from_naive_utc(dt: &NaiveDateTime) -> Self {
        Timestamp(dt.and_utc().timestamp_millis())
    }

    /// Format with the given input style.
    pub fn format(self, fmt: TimeFormat) -> String {
        let Ok(dt) = self.to_datetime() else {
            return self.0.to_string();
        };
        match fmt {
            TimeFormat::Naive => dt.format("%Y-%m-%d %H:%M:%S").to_string(),
            TimeFormat::NaiveT => dt.format("%Y-%m-%dT%H:%M:%S").to_string(),
            TimeFormat::Rfc3339 { offset_s } => match chrono::FixedOffset::east_opt(offset_s) {
                Some(off) => dt
                    .with_timezone(&off)
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                None => dt.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            },
            TimeFormat::EpochSeconds => self.secs().to_string(),
            TimeFormat::Date => dt.format("%Y-%m-%d").to_string(),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format(TimeFormat::Rfc3339 { offset_s: 0 }))
    }
}

/// How an input wrote its timestamps, so outputs can write them back alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TimeFormat {
    /// `2014-07-01 00:30:00`, read as UTC.
    #[default]
    Naive,
    /// `2014-07-01T00:30:00`, read as UTC.
    NaiveT,
    /// RFC 3339 with a zone offset (in seconds east of UTC), e.g. `2014-07-01T00:30:00+08:00`.
    Rfc3339 {
        /// The offset the input used; outputs use the same one.
        offset_s: i32,
    },
    /// Integer seconds since the epoch.
    EpochSeconds,
    /// A calendar date (daily data), `2014-07-01`.
    Date,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip_in_the_input_style() {
        let t = Timestamp::from_secs(1_404_174_600); // 2014-07-01 00:30:00Z
        assert_eq!(t.format(TimeFormat::Naive), "2014-07-01 00:30:00");
        assert_eq!(t.format(TimeFormat::NaiveT), "2014-07-01T00:30:00");
        assert_eq!(t.format(TimeFormat::EpochSeconds), "1404174600");
        assert_eq!(
            t.format(TimeFormat::Rfc3339 { offset_s: 8 * 3600 }),
            "2014-07-01T08:30:00+08:00"
        );
        assert_eq!(t.format(TimeFormat::Date), "2014-07-01");
    }

    #[test]
    fn negative_millis_floor_to_seconds() {
        assert_eq!(Timestamp(-1).secs(), -1);
        assert_eq!(Timestamp(1999).secs(), 1);
    }
}

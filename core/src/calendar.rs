//! Holiday calendars: which days are off, which are make-up working days, and
//! which carry a named event (a sale, a marathon).
//!
//! Traffic crests are tied to the calendar: the eve of a holiday, the first day
//! back, the Spring Festival travel rush. A [`Calendar`] is plain data, keyed by
//! date in a `BTreeMap` so iteration (and every output built from it) is
//! reproducible. The built-in `us` and `cn` calendars and user files are loaded
//! in `crest-datasets`; this type only answers questions about dates.

use std::collections::BTreeMap;

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// What is special about one date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DayKind {
    /// A public holiday (a day off), e.g. "Spring Festival".
    Holiday {
        /// Holiday name.
        name: String,
    },
    /// A weekend day that is an official working day to make up for a holiday
    /// (PRC "调休"): traffic looks like a weekday's.
    MakeupWorkday {
        /// The holiday it makes up for.
        name: String,
    },
    /// A user-defined event such as a flash sale; not a day off.
    Event {
        /// Event name.
        name: String,
    },
}

impl DayKind {
    /// The name of the holiday or event.
    pub fn name(&self) -> &str {
        match self {
            DayKind::Holiday { name }
            | DayKind::MakeupWorkday { name }
            | DayKind::Event { name } => name,
        }
    }
}

/// Calendar features of one date, as forecasting models use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DayFeatures {
    /// A public holiday (day off).
    pub holiday: bool,
    /// The day before a holiday period starts (and is not itself a holiday).
    pub eve: bool,
    /// The first day after a holiday period ends (and is not itself a holiday).
    pub day_after: bool,
    /// An official make-up working day (a weekend day worked).
    pub makeup_workday: bool,
    /// A user event falls on this date.
    pub event: bool,
    /// An ordinary day off: a weekend day that is not a make-up working day, or a holiday.
    pub off_day: bool,
}

/// A holiday calendar: named days by date, plus user events.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Calendar {
    /// Short name, e.g. `us`, `cn`, or a file name.
    pub name: String,
    days: BTreeMap<NaiveDate, Vec<DayKind>>,
}

impl Calendar {
    /// An empty calendar (every weekday a workday, every weekend day off).
    pub fn new(name: impl Into<String>) -> Self {
        Calendar {
            name: name.into(),
            days: BTreeMap::new(),
        }
    }

    /// Mark `date` with `kind`. The same kind twice on one date is kept once.
    pub fn insert(&mut self, date: NaiveDate, kind: DayKind) {
        let v = self.days.entry(date).or_default();
        if !v.contains(&kind) {
            v.push(kind);
        }
    }

    /// Merge another calendar into this one (e.g. user events over `cn`).
    pub fn merge(&mut self, other: &Calendar) {
        for (d, kinds) in &other.days {
            for k in kinds {
                self.insert(*d, k.clone());
            }
        }
    }

    /// Everything recorded for `date`.
    pub fn kinds(&self, date: NaiveDate) -> &[DayKind] {
        self.days.get(&date).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Iterate over every recorded date in order.
    pub fn iter(&self) -> impl Iterator<Item = (NaiveDate, &[DayKind])> {
        self.days.iter().map(|(d, k)| (*d, k.as_slice()))
    }

    /// Number of dates with an entry.
    pub fn len(&self) -> usize {
        self.days.len()
    }

    /// True when nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.days.is_empty()
    }

    /// Is `date` a public holiday?
    pub fn is_holiday(&self, date: NaiveDate) -> bool {
        self.kinds(date)
            .iter()
            .any(|k| matches!(k, DayKind::Holiday { .. }))
    }

    /// Is `date` an official make-up working day?
    pub fn is_makeup_workday(&self, date: NaiveDate) -> bool {
        self.kinds(date)
            .iter()
            .any(|k| matches!(k, DayKind::MakeupWorkday { .. }))
    }

    /// Does a user event fall on `date`?
    pub fn has_event(&self, date: NaiveDate) -> bool {
        self.kinds(date)
            .iter()
            .any(|k| matches!(k, DayKind::Event { .. }))
    }

    /// Is `date` a day off: a holiday, or a weekend day that is not worked?
    pub fn is_off_day(&self, date: NaiveDate) -> bool {
        if self.is_holiday(date) {
            return true;
        }
        let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        weekend && !self.is_makeup_workday(date)
    }

    /// The features of one date.
    pub fn features(&self, date: NaiveDate) -> DayFeatures {
        let holiday = self.is_holiday(date);
        let next = date.checked_add_days(Days::new(1));
        let prev = date.checked_sub_days(Days::new(1));
        DayFeatures {
            holiday,
            eve: !holiday && next.is_some_and(|d| self.is_holiday(d)),
            day_after: !holiday && prev.is_some_and(|d| self.is_holiday(d)),
            makeup_workday: self.is_makeup_workday(date),
            event: self.has_event(date),
            off_day: self.is_off_day(date),
        }
    }

    /// The name of the holiday on `date`, if any.
    pub fn holiday_name(&self, date: NaiveDate) -> Option<&str> {
        self.kinds(date).iter().find_map(|k| match k {
            DayKind::Holiday { name } => Some(name.as_str()),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn eve_and_day_after_surround_a_holiday_period() {
        let mut c = Calendar::new("t");
        for day in 10..=17 {
            c.insert(
                d(2024, 2, day),
                DayKind::Holiday {
                    name: "Spring Festival".into(),
                },
            );
        }
        c.insert(
            d(2024, 2, 18),
            DayKind::MakeupWorkday {
                name: "Spring Festival".into(),
            },
        );
        assert!(c.features(d(2024, 2, 9)).eve);
        assert!(!c.features(d(2024, 2, 10)).eve);
        assert!(c.features(d(2024, 2, 12)).holiday);
        let back = c.features(d(2024, 2, 18));
        assert!(back.day_after && back.makeup_workday && !back.off_day);
        // An ordinary Saturday is off; a make-up Sunday is not.
        assert!(c.is_off_day(d(2024, 3, 2)));
        assert!(!c.is_off_day(d(2024, 2, 18)));
    }

    #[test]
    fn merge_keeps_both_and_dedups() {
        let mut a = Calendar::new("a");
        a.insert(
            d(2024, 11, 11),
            DayKind::Event {
                name: "sale".into(),
            },
        );
        let mut b = Calendar::new("b");
        b.insert(
            d(2024, 11, 11),
            DayKind::Event {
                name: "sale".into(),
            },
        );
        b.insert(
            d(2024, 12, 25),
            DayKind::Holiday {
                name: "Christmas Day".into(),
            },
        );
        a.merge(&b);
        assert_eq!(a.len(), 2);
        assert_eq!(a.kinds(d(2024, 11, 11)).len(), 1);
        assert_eq!(a.holiday_name(d(2024, 12, 25)), Some("Christmas Day"));
    }
}

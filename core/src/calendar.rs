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
    /// Effect windows set by a calendar file, by holiday name (others take
    /// [`default_effect_window`]).
    #[serde(default)]
    windows: BTreeMap<String, EffectWindow>,
    /// The day each occurrence of a holiday is named after, by holiday name,
    /// where that is not simply its first day off: Mid-Autumn's lunar 8/15
    /// may be the first or the last of its three days off, and it is that
    /// day, not the first day off, on which the load dips.
    #[serde(default)]
    principal: BTreeMap<String, Vec<NaiveDate>>,
}

/// How many days before and after a holiday period its traffic effect spans
/// (Prophet's `lower_window`/`upper_window`): the load falls for a week before
/// Spring Festival and takes two weeks to recover; a US Monday holiday moves
/// little beyond its long weekend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectWindow {
    /// Days before the first day off.
    pub before: u32,
    /// Days after the last day off.
    pub after: u32,
}

/// Longest effect window on either side, in days.
pub const MAX_EFFECT_DAYS: u32 = 60;

/// A run of consecutive dates that carry one holiday or event name, e.g.
/// Spring Festival 2014-01-31..2014-02-06.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolidayPeriod {
    /// The holiday's name without an "(observed)" suffix.
    pub name: String,
    /// First day of the period.
    pub first: NaiveDate,
    /// Last day of the period.
    pub last: NaiveDate,
    /// True for a user event (not a day off), false for a holiday.
    pub event: bool,
}

impl HolidayPeriod {
    /// The first and last date of the period with its effect window around it.
    pub fn window_span(&self, w: EffectWindow) -> (NaiveDate, NaiveDate) {
        let from = self
            .first
            .checked_sub_days(Days::new(u64::from(w.before)))
            .unwrap_or(self.first);
        let to = self
            .last
            .checked_add_days(Days::new(u64::from(w.after)))
            .unwrap_or(self.last);
        (from, to)
    }

    /// A stable label such as `spring-festival-2014` (the year of the first day).
    pub fn label(&self) -> String {
        let mut slug = String::new();
        for c in self.name.chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c.to_ascii_lowercase());
            } else if !slug.ends_with('-') && !slug.is_empty() {
                slug.push('-');
            }
        }
        let slug = slug.trim_end_matches('-');
        format!("{slug}-{}", self.first.year())
    }
}

/// The holiday name without an "(observed)" suffix: the observed Monday of a
/// Sunday Christmas belongs to Christmas.
pub fn base_holiday_name(name: &str) -> &str {
    name.strip_suffix(" (observed)").unwrap_or(name).trim()
}

/// The effect window crest assumes for a holiday it knows by name, from how
/// the traffic around it behaves (PRC: factories and offices close early
/// before Spring Festival and reopen over two weeks; the Golden Week; US: the
/// Thanksgiving weekend and the Christmas-to-New-Year week). Anything else
/// (a user event, an unknown name) spans its own days only. A calendar file
/// can override any of these (`[[window]]`).
pub fn default_effect_window(name: &str) -> EffectWindow {
    let w = |before, after| EffectWindow { before, after };
    match base_holiday_name(name) {
        "Spring Festival" => w(10, 16),
        "National Day" => w(3, 5),
        "Labour Day" => w(2, 3),
        "New Year" | "Qingming" | "Dragon Boat" | "Mid-Autumn" => w(2, 2),
        "Thanksgiving Day" => w(3, 4),
        "Christmas Day" => w(7, 6),
        "New Year's Day" => w(1, 2),
        "New Year's Eve" | "Thanksgiving Friday" => w(0, 0),
        _ => w(1, 1),
    }
}

impl Calendar {
    /// An empty calendar (every weekday a workday, every weekend day off).
    pub fn new(name: impl Into<String>) -> Self {
        Calendar {
            name: name.into(),
            days: BTreeMap::new(),
            windows: BTreeMap::new(),
            principal: BTreeMap::new(),
        }
    }

    /// Record `date` as the day a holiday occurrence is named after (e.g.
    /// the lunar festival day inside its days off).
    pub fn set_principal_day(&mut self, name: &str, date: NaiveDate) {
        let v = self
            .principal
            .entry(base_holiday_name(name).to_string())
            .or_default();
        if let Err(at) = v.binary_search(&date) {
            v.insert(at, date);
        }
    }

    /// The day `period` is named after: a recorded principal day of its
    /// name inside the period, else its first day.
    pub fn principal_day(&self, period: &HolidayPeriod) -> NaiveDate {
        self.principal
            .get(base_holiday_name(&period.name))
            .and_then(|v| {
                v.iter()
                    .find(|d| **d >= period.first && **d <= period.last)
                    .copied()
            })
            .unwrap_or(period.first)
    }

    /// Set the effect window of a holiday (by its base name), overriding
    /// [`default_effect_window`].
    pub fn set_effect_window(&mut self, name: &str, w: EffectWindow) {
        self.windows.insert(base_holiday_name(name).to_string(), w);
    }

    /// The effect window of a holiday: the calendar's own, else the default.
    pub fn effect_window(&self, name: &str) -> EffectWindow {
        self.windows
            .get(base_holiday_name(name))
            .copied()
            .unwrap_or_else(|| default_effect_window(name))
    }

    /// Every holiday period (and user event period) in date order: runs of
    /// consecutive dates that carry the same base name. A date with two
    /// names starts or extends a run for each.
    pub fn holiday_periods(&self) -> Vec<HolidayPeriod> {
        let mut open: BTreeMap<(String, bool), (NaiveDate, NaiveDate)> = BTreeMap::new();
        let mut done = Vec::new();
        for (date, kinds) in &self.days {
            for k in kinds {
                let (name, event) = match k {
                    DayKind::Holiday { name } => (base_holiday_name(name), false),
                    DayKind::Event { name } => (base_holiday_name(name), true),
                    DayKind::MakeupWorkday { .. } => continue,
                };
                let key = (name.to_string(), event);
                match open.get_mut(&key) {
                    Some(run) if run.1.succ_opt() == Some(*date) => run.1 = *date,
                    Some(run) if run.1 == *date => {}
                    Some(run) => {
                        done.push(HolidayPeriod {
                            name: key.0.clone(),
                            first: run.0,
                            last: run.1,
                            event,
                        });
                        *run = (*date, *date);
                    }
                    None => {
                        open.insert(key, (*date, *date));
                    }
                }
            }
        }
        for ((name, event), (first, last)) in open {
            done.push(HolidayPeriod {
                name,
                first,
                last,
                event,
            });
        }
        done.sort_by(|a, b| (a.first, &a.name).cmp(&(b.first, &b.name)));
        done
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
        for (name, w) in &other.windows {
            self.windows.insert(name.clone(), *w);
        }
        for (name, days) in &other.principal {
            for d in days {
                self.set_principal_day(name, *d);
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
    fn principal_day_is_the_recorded_day_inside_the_period_else_the_first() {
        let mut c = Calendar::new("t");
        let hol = || DayKind::Holiday {
            name: "Mid-Autumn".into(),
        };
        for day in 10..=12 {
            c.insert(d(2011, 9, day), hol());
        }
        for day in 22..=24 {
            c.insert(d(2010, 9, day), hol());
        }
        c.set_principal_day("Mid-Autumn", d(2011, 9, 12));
        // A principal day outside every period is not used.
        c.set_principal_day("Mid-Autumn", d(2010, 9, 1));
        let p = c.holiday_periods();
        assert_eq!(
            c.principal_day(&p[0]),
            d(2010, 9, 22),
            "none inside: the first day"
        );
        assert_eq!(c.principal_day(&p[1]), d(2011, 9, 12));
        let mut other = Calendar::new("o");
        other.merge(&c);
        assert_eq!(
            other.principal_day(&p[1]),
            d(2011, 9, 12),
            "merge keeps them"
        );
    }

    #[test]
    fn holiday_periods_join_consecutive_days_and_observed_days() {
        let mut c = Calendar::new("t");
        let hol = |n: &str| DayKind::Holiday { name: n.into() };
        for day in 31..=31 {
            c.insert(d(2014, 1, day), hol("Spring Festival"));
        }
        for day in 1..=6 {
            c.insert(d(2014, 2, day), hol("Spring Festival"));
        }
        c.insert(d(2022, 12, 25), hol("Christmas Day"));
        c.insert(d(2022, 12, 26), hol("Christmas Day (observed)"));
        c.insert(d(2023, 12, 25), hol("Christmas Day"));
        c.insert(
            d(2014, 1, 26),
            DayKind::MakeupWorkday {
                name: "Spring Festival".into(),
            },
        );
        let p = c.holiday_periods();
        assert_eq!(p.len(), 3, "{p:?}");
        assert_eq!((p[0].first, p[0].last), (d(2014, 1, 31), d(2014, 2, 6)));
        assert_eq!(p[0].label(), "spring-festival-2014");
        assert_eq!((p[1].first, p[1].last), (d(2022, 12, 25), d(2022, 12, 26)));
        assert_eq!(p[2].first, d(2023, 12, 25));
        let w = c.effect_window("Spring Festival");
        assert_eq!((w.before, w.after), (10, 16));
        assert_eq!(p[0].window_span(w), (d(2014, 1, 21), d(2014, 2, 22)));
        c.set_effect_window(
            "Spring Festival",
            EffectWindow {
                before: 3,
                after: 4,
            },
        );
        assert_eq!(c.effect_window("Spring Festival").after, 4);
        assert_eq!(c.effect_window("Christmas Day (observed)").before, 7);
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

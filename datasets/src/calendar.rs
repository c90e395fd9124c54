//! Holiday calendars: built-in `us` and `cn`, `none`, and user event files.
//!
//! Traffic crests sit on the calendar, so forecasts need to know which days are
//! off, which are the eve or the first day back, and which weekend days are
//! worked (PRC make-up days, 调休). Built-ins:
//!
//! - `us`: the eleven US federal holidays 1990–2040, computed by rule (Juneteenth
//!   from 2021). A fixed-date holiday on a Saturday is also observed the Friday
//!   before, on a Sunday the Monday after (the day itself stays a holiday too,
//!   named plainly; the observed day is named "... (observed)").
//! - `cn`: PRC public holidays and make-up working days 2007–2027 from the State
//!   Council notices (embedded copy of NateScarlet/holiday-cn, see
//!   `data/PROVENANCE.md`), names in English: New Year, Spring Festival,
//!   Qingming, Labour Day, Dragon Boat, Mid-Autumn, National Day. The upstream
//!   data list only the days the notice moves; a holiday period here also takes
//!   in the ordinary weekend days that adjoin it (2019 Qingming is Apr 5–7, as
//!   the notice says "共3天", although the data list Apr 5 only). 2027 has no
//!   entries until its notice is published.
//! - `none`: no holidays (weekends are still off days).
//!
//! `us` also names two days that are not federal days off but crests of their
//! own, as user events: "New Year's Eve" (December 31) and "Thanksgiving
//! Friday".
//!
//! Every named holiday has an effect window (days before and after it that
//! its traffic effect spans, [`crest_core::calendar::default_effect_window`]);
//! a file can override it per holiday name:
//!
//! ```toml
//! [[window]]
//! name = "Spring Festival"
//! before = 14
//! after = 20
//! ```
//!
//! User files add named days on top of a built-in, by date or date range:
//!
//! ```toml
//! [[event]]
//! name = "11.11 sale"
//! date = "2024-11-11"
//!
//! [[event]]
//! name = "NYC Marathon weekend"
//! from = "2014-11-01"
//! to = "2014-11-02"
//! kind = "event"        # optional: event (default) | holiday | workday
//! ```
//!
//! or CSV with the header `name,from,to` (optional fourth column `kind`; an empty
//! `to` means a single day). A spec for [`resolve_calendar`] is `none`, `us`,
//! `cn`, a file path, or several joined by `+`: `cn+events.toml` merges the
//! events onto `cn` (a file alone merges onto `none`).

use std::path::Path;

use chrono::{Datelike, Days, NaiveDate, Weekday};
use crest_core::Calendar;
use crest_core::calendar::{DayKind, EffectWindow, MAX_EFFECT_DAYS};
use serde::Deserialize;

use crate::DatasetError;

/// Names [`builtin`] knows.
pub const BUILTIN_NAMES: &[&str] = &["none", "us", "cn"];

/// Years the `us` calendar covers.
pub const US_YEARS: std::ops::RangeInclusive<i32> = 1990..=2040;

/// A built-in calendar by name: `none`, `us` or `cn`.
///
/// # Errors
/// [`DatasetError::Calendar`] for any other name.
pub fn builtin(name: &str) -> Result<Calendar, DatasetError> {
    match name.trim().to_ascii_lowercase().as_str() {
        "none" => Ok(Calendar::new("none")),
        "us" => Ok(us()),
        "cn" => cn(),
        other => Err(DatasetError::Calendar {
            file: other.to_string(),
            place: String::new(),
            field: String::new(),
            why: format!(
                "not a built-in calendar ({}) and not a file",
                BUILTIN_NAMES.join(", ")
            ),
        }),
    }
}

/// Resolve a calendar spec: `none`, `us`, `cn`, a TOML/CSV file, or several joined
/// with `+` (merged left to right, e.g. `cn+events.toml`).
///
/// # Errors
/// [`DatasetError::Calendar`] for an unknown name or a bad file.
pub fn resolve_calendar(spec: &str) -> Result<Calendar, DatasetError> {
    let parts: Vec<&str> = spec.split('+').map(str::trim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(DatasetError::Calendar {
            file: spec.to_string(),
            place: String::new(),
            field: String::new(),
            why: "empty calendar spec; expected none, us, cn, a file, or e.g. cn+events.toml"
                .into(),
        });
    }
    let mut cal = Calendar::new(spec);
    for p in parts {
        let one = if BUILTIN_NAMES.contains(&p.to_ascii_lowercase().as_str()) {
            builtin(p)?
        } else if Path::new(p).exists() {
            load_file(Path::new(p))?
        } else {
            builtin(p)?
        };
        cal.merge(&one);
    }
    Ok(cal)
}

// ---------------------------------------------------------------- us

fn nth_weekday(year: i32, month: u32, wd: Weekday, n: u8) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, wd, n)
}

fn last_weekday(year: i32, month: u32, wd: Weekday) -> Option<NaiveDate> {
    nth_weekday(year, month, wd, 5).or_else(|| nth_weekday(year, month, wd, 4))
}

/// US federal holidays for the given years, with observed days.
pub fn us_years(years: std::ops::RangeInclusive<i32>) -> Calendar {
    let mut c = Calendar::new("us");
    let hol = |name: &str| DayKind::Holiday {
        name: name.to_string(),
    };
    for y in years {
        let fixed: Vec<(&str, Option<NaiveDate>)> = {
            let mut v = vec![
                ("New Year's Day", NaiveDate::from_ymd_opt(y, 1, 1)),
                ("Independence Day", NaiveDate::from_ymd_opt(y, 7, 4)),
                ("Veterans Day", NaiveDate::from_ymd_opt(y, 11, 11)),
                ("Christmas Day", NaiveDate::from_ymd_opt(y, 12, 25)),
            ];
            if y >= 2021 {
                v.push(("Juneteenth", NaiveDate::from_ymd_opt(y, 6, 19)));
            }
            v
        };
        for (name, d) in fixed.into_iter() {
            let Some(d) = d else { continue };
            c.insert(d, hol(name));
            let observed = match d.weekday() {
                Weekday::Sat => d.checked_sub_days(Days::new(1)),
                Weekday::Sun => d.checked_add_days(Days::new(1)),
                _ => None,
            };
            if let Some(o) = observed {
                c.insert(o, hol(&format!("{name} (observed)")));
            }
        }
        let rules = [
            (
                "Martin Luther King Jr. Day",
                nth_weekday(y, 1, Weekday::Mon, 3),
            ),
            ("Washington's Birthday", nth_weekday(y, 2, Weekday::Mon, 3)),
            ("Memorial Day", last_weekday(y, 5, Weekday::Mon)),
            ("Labor Day", nth_weekday(y, 9, Weekday::Mon, 1)),
            ("Columbus Day", nth_weekday(y, 10, Weekday::Mon, 2)),
            ("Thanksgiving Day", nth_weekday(y, 11, Weekday::Thu, 4)),
        ];
        for (name, d) in rules {
            if let Some(d) = d {
                c.insert(d, hol(name));
            }
        }
        // Not federal days off, but crests of their own: the night of
        // December 31 and the Friday after Thanksgiving (Black Friday).
        let event = |name: &str| DayKind::Event {
            name: name.to_string(),
        };
        if let Some(d) = NaiveDate::from_ymd_opt(y, 12, 31) {
            c.insert(d, event("New Year's Eve"));
        }
        if let Some(d) = nth_weekday(y, 11, Weekday::Thu, 4).and_then(|d| d.succ_opt()) {
            c.insert(d, event("Thanksgiving Friday"));
        }
    }
    c
}

/// The built-in `us` calendar ([`US_YEARS`]).
pub fn us() -> Calendar {
    us_years(US_YEARS)
}

// ---------------------------------------------------------------- cn

const CN_FILES: &[(i32, &str)] = &[
    (2007, include_str!("../data/china-holidays/2007.json")),
    (2008, include_str!("../data/china-holidays/2008.json")),
    (2009, include_str!("../data/china-holidays/2009.json")),
    (2010, include_str!("../data/china-holidays/2010.json")),
    (2011, include_str!("../data/china-holidays/2011.json")),
    (2012, include_str!("../data/china-holidays/2012.json")),
    (2013, include_str!("../data/china-holidays/2013.json")),
    (2014, include_str!("../data/china-holidays/2014.json")),
    (2015, include_str!("../data/china-holidays/2015.json")),
    (2016, include_str!("../data/china-holidays/2016.json")),
    (2017, include_str!("../data/china-holidays/2017.json")),
    (2018, include_str!("../data/china-holidays/2018.json")),
    (2019, include_str!("../data/china-holidays/2019.json")),
    (2020, include_str!("../data/china-holidays/2020.json")),
    (2021, include_str!("../data/china-holidays/2021.json")),
    (2022, include_str!("../data/china-holidays/2022.json")),
    (2023, include_str!("../data/china-holidays/2023.json")),
    (2024, include_str!("../data/china-holidays/2024.json")),
    (2025, include_str!("../data/china-holidays/2025.json")),
    (2026, include_str!("../data/china-holidays/2026.json")),
    (2027, include_str!("../data/china-holidays/2027.json")),
];

/// English name of a PRC holiday as the notices spell it in Chinese.
pub fn cn_name(zh: &str) -> String {
    // Merged names ("国庆节、中秋节") are the Golden Week: National Day dominates.
    if zh.contains("国庆") || zh.contains("十一") {
        return "National Day".into();
    }
    // 2007-2008 notices: "“五一”", "“五一”国际劳动节".
    if zh.contains("劳动") || zh.contains("五一") {
        return "Labour Day".into();
    }
    match zh {
        "元旦" => "New Year",
        "春节" => "Spring Festival",
        "清明节" | "清明" => "Qingming",
        "劳动节" => "Labour Day",
        "端午节" | "端午" => "Dragon Boat",
        "中秋节" | "中秋" => "Mid-Autumn",
        z if z.contains("抗日战争") => "Victory Day (70th anniversary)",
        other => other,
    }
    .to_string()
}

#[derive(Deserialize)]
struct CnYear {
    days: Vec<CnDay>,
}

#[derive(Deserialize)]
struct CnDay {
    name: String,
    date: String,
    #[serde(rename = "isOffDay")]
    is_off_day: bool,
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The built-in `cn` calendar (2007–2027).
///
/// # Errors
/// [`DatasetError::Calendar`] if the embedded data were corrupt (a build defect,
/// checked by the tests).
pub fn cn() -> Result<Calendar, DatasetError> {
    let mut c = Calendar::new("cn");
    for (year, text) in CN_FILES {
        let file = format!("cn/{year}.json");
        let bad = |why: String| DatasetError::Calendar {
            file: file.clone(),
            place: String::new(),
            field: String::new(),
            why,
        };
        let y: CnYear = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        for d in y.days {
            let date = NaiveDate::parse_from_str(&d.date, "%Y-%m-%d")
                .map_err(|e| bad(format!("date \"{}\": {e}", d.date)))?;
            let name = cn_name(&d.name);
            c.insert(
                date,
                if d.is_off_day {
                    DayKind::Holiday { name }
                } else {
                    DayKind::MakeupWorkday { name }
                },
            );
        }
    }
    // Take in the ordinary weekend days that adjoin each holiday period.
    let mut extra = Vec::new();
    for (date, kinds) in c.iter() {
        let Some(name) = kinds.iter().find_map(|k| match k {
            DayKind::Holiday { name } => Some(name.clone()),
            _ => None,
        }) else {
            continue;
        };
        for forward in [true, false] {
            let mut d = date;
            loop {
                let next = if forward {
                    d.checked_add_days(Days::new(1))
                } else {
                    d.checked_sub_days(Days::new(1))
                };
                let Some(n) = next else { break };
                if !is_weekend(n) || c.is_holiday(n) || c.is_makeup_workday(n) {
                    break;
                }
                extra.push((n, name.clone()));
                d = n;
            }
        }
    }
    for (d, name) in extra {
        c.insert(d, DayKind::Holiday { name });
    }
    for p in c.holiday_periods() {
        if let Some(day) = lunar_festival_day(&p.name, p.first, p.last) {
            c.set_principal_day(&p.name, day);
        }
    }
    Ok(c)
}

/// The lunar (month, day) each lunar holiday of the cn calendar is named
/// after: Spring Festival 1/1, Dragon Boat 5/5, Mid-Autumn 8/15.
fn lunar_month_day(name: &str) -> Option<(u8, u8)> {
    match name {
        "Spring Festival" => Some((1, 1)),
        "Dragon Boat" => Some((5, 5)),
        "Mid-Autumn" => Some((8, 15)),
        _ => None,
    }
}

/// Qingming, the solar term at the sun's ecliptic longitude 15 degrees, in
/// April of `year` (2001..=2099): the day-count rule of the Chinese almanac
/// makers, `floor(0.2422 y + 4.81) - floor(y / 4)` with `y` the year of the
/// century (a test checks it against 2008..=2027).
fn qingming_day(year: i32) -> Option<NaiveDate> {
    if !(2001..=2099).contains(&year) {
        return None;
    }
    let y = f64::from(year % 100);
    let day = (0.2422 * y + 4.81).floor() - (y / 4.0).floor();
    NaiveDate::from_ymd_opt(year, 4, day as u32)
}

/// The festival day of a lunar holiday's period `first..=last` (its days
/// off always hold it), from the Chinese lunisolar calendar (Qingming: its
/// solar term); `None` for holidays not named after such a date.
fn lunar_festival_day(name: &str, first: NaiveDate, last: NaiveDate) -> Option<NaiveDate> {
    if name == "Qingming" {
        return qingming_day(last.year()).filter(|d| (first..=last).contains(d));
    }
    let (month, day) = lunar_month_day(name)?;
    first.iter_days().take_while(|d| *d <= last).find(|d| {
        chinese_lunisolar_calendar::LunisolarDate::from_date(*d).is_ok_and(|l| {
            let m = l.to_lunar_month();
            !m.is_leap_month() && m.to_u8() == month && l.to_lunar_day().to_u8() == day
        })
    })
}

// ---------------------------------------------------------------- user files

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    event: Vec<RawEvent>,
    #[serde(default)]
    window: Vec<RawWindow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    name: toml::Spanned<String>,
    before: u32,
    after: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    name: toml::Spanned<String>,
    date: Option<toml::Spanned<String>>,
    from: Option<toml::Spanned<String>>,
    to: Option<toml::Spanned<String>>,
    kind: Option<toml::Spanned<String>>,
}

/// Longest date range one entry may span.
pub const MAX_RANGE_DAYS: i64 = 366;

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn cal_err(file: &str, line: Option<usize>, field: &str, why: String) -> DatasetError {
    DatasetError::Calendar {
        file: file.to_string(),
        place: line.map(|l| format!("line {l}")).unwrap_or_default(),
        field: field.to_string(),
        why,
    }
}

fn parse_kind(s: &str, name: String) -> Option<DayKind> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "event" => Some(DayKind::Event { name }),
        "holiday" => Some(DayKind::Holiday { name }),
        "workday" | "makeup_workday" => Some(DayKind::MakeupWorkday { name }),
        _ => None,
    }
}

const KIND_EXPECTED: &str = "expected event, holiday or workday";

fn parse_date(file: &str, line: usize, field: &str, s: &str) -> Result<NaiveDate, DatasetError> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
        cal_err(
            file,
            Some(line),
            field,
            format!("cannot parse \"{s}\" as a date (expected YYYY-MM-DD)"),
        )
    })
}

fn add_range(
    cal: &mut Calendar,
    file: &str,
    line: usize,
    from: NaiveDate,
    to: NaiveDate,
    kind: &DayKind,
) -> Result<(), DatasetError> {
    let days = (to - from).num_days();
    if days < 0 {
        return Err(cal_err(
            file,
            Some(line),
            "to",
            format!("the range ends ({to}) before it starts ({from})"),
        ));
    }
    if days >= MAX_RANGE_DAYS {
        return Err(cal_err(
            file,
            Some(line),
            "to",
            format!(
                "a range of {} days is longer than {MAX_RANGE_DAYS}",
                days + 1
            ),
        ));
    }
    for d in from.iter_days().take(days as usize + 1) {
        cal.insert(d, kind.clone());
    }
    Ok(())
}

/// The trimmed `name` of an entry and its line; an empty name is an error.
fn required_name<'a>(
    file: &str,
    text: &str,
    name: &'a toml::Spanned<String>,
) -> Result<(usize, &'a str), DatasetError> {
    let line = line_of(text, name.span().start);
    let n = name.get_ref().trim();
    if n.is_empty() {
        return Err(cal_err(
            file,
            Some(line),
            "name",
            "the name is empty".into(),
        ));
    }
    Ok((line, n))
}

/// Parse a TOML event file's text; `file` is used in messages.
///
/// # Errors
/// [`DatasetError::Calendar`] naming the line and field of the first problem.
pub fn parse_toml(file: &str, text: &str) -> Result<Calendar, DatasetError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        cal_err(file, line, "", e.message().to_string())
    })?;
    let mut cal = Calendar::new(file);
    for w in raw.window {
        let (line, name) = required_name(file, text, &w.name)?;
        for (field, v) in [("before", w.before), ("after", w.after)] {
            if v > MAX_EFFECT_DAYS {
                return Err(cal_err(
                    file,
                    Some(line),
                    field,
                    format!("{v} days is more than the largest effect window, {MAX_EFFECT_DAYS}"),
                ));
            }
        }
        cal.set_effect_window(
            name,
            EffectWindow {
                before: w.before,
                after: w.after,
            },
        );
    }
    for ev in raw.event {
        let (line, name) = required_name(file, text, &ev.name)?;
        let name = name.to_string();
        let kind = match &ev.kind {
            None => DayKind::Event { name: name.clone() },
            Some(k) => parse_kind(k.get_ref(), name.clone()).ok_or_else(|| {
                cal_err(
                    file,
                    Some(line_of(text, k.span().start)),
                    "kind",
                    format!("\"{}\" is not a kind ({KIND_EXPECTED})", k.get_ref()),
                )
            })?,
        };
        let at = |s: &toml::Spanned<String>| line_of(text, s.span().start);
        match (&ev.date, &ev.from, &ev.to) {
            (Some(d), None, None) => {
                let date = parse_date(file, at(d), "date", d.get_ref())?;
                cal.insert(date, kind);
            }
            (None, Some(f), Some(t)) => {
                let from = parse_date(file, at(f), "from", f.get_ref())?;
                let to = parse_date(file, at(t), "to", t.get_ref())?;
                add_range(&mut cal, file, at(t), from, to, &kind)?;
            }
            (None, Some(f), None) => {
                return Err(cal_err(
                    file,
                    Some(at(f)),
                    "to",
                    format!("event \"{name}\" has \"from\" but no \"to\""),
                ));
            }
            _ => {
                return Err(cal_err(
                    file,
                    Some(line),
                    "date",
                    format!("event \"{name}\" needs either \"date\" or both \"from\" and \"to\""),
                ));
            }
        }
    }
    Ok(cal)
}

/// Split one CSV line into fields (double quotes may enclose commas; `""` is a quote).
fn split_csv_line(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().map(|s| s.trim().to_string()).collect()
}

/// Parse a CSV event file's text (`name,from,to[,kind]`); `file` is used in messages.
///
/// # Errors
/// [`DatasetError::Calendar`] naming the line and field of the first problem.
pub fn parse_csv(file: &str, text: &str) -> Result<Calendar, DatasetError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((hl, header)) = lines.next() else {
        return Err(cal_err(
            file,
            None,
            "",
            "the file is empty (expected a header name,from,to)".into(),
        ));
    };
    let cols: Vec<String> = split_csv_line(header)
        .into_iter()
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let idx = |c: &str| cols.iter().position(|x| x == c);
    let need = |c: &str| {
        idx(c).ok_or_else(|| {
            cal_err(
                file,
                Some(hl + 1),
                c,
                format!(
                    "missing column \"{c}\" (found {}; expected name,from,to[,kind])",
                    cols.join(",")
                ),
            )
        })
    };
    let (ni, fi) = (need("name")?, need("from")?);
    let (ti, ki) = (idx("to"), idx("kind"));
    let mut cal = Calendar::new(file);
    for (i, l) in lines {
        let line = i + 1;
        let f = split_csv_line(l);
        let get = |j: usize| f.get(j).map(String::as_str).unwrap_or("");
        let name = get(ni).to_string();
        if name.is_empty() {
            return Err(cal_err(
                file,
                Some(line),
                "name",
                "the name is empty".into(),
            ));
        }
        let from = parse_date(file, line, "from", get(fi))?;
        let to = match ti.map(get) {
            Some(t) if !t.is_empty() => parse_date(file, line, "to", t)?,
            _ => from,
        };
        let kind = parse_kind(ki.map(get).unwrap_or(""), name).ok_or_else(|| {
            cal_err(
                file,
                Some(line),
                "kind",
                format!(
                    "\"{}\" is not a kind ({KIND_EXPECTED})",
                    ki.map(get).unwrap_or("")
                ),
            )
        })?;
        add_range(&mut cal, file, line, from, to, &kind)?;
    }
    Ok(cal)
}

/// Load a user calendar file: `.toml` as TOML, anything else as CSV.
///
/// # Errors
/// [`DatasetError::Io`] when unreadable; [`DatasetError::Calendar`] naming the line
/// and field of the first problem.
pub fn load_file(path: &Path) -> Result<Calendar, DatasetError> {
    let bytes = std::fs::read(path).map_err(|source| DatasetError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    let file = path.display().to_string();
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        cal_err(
            &file,
            Some(line),
            "",
            "invalid UTF-8; save the file as UTF-8".into(),
        )
    })?;
    let toml = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    if toml {
        parse_toml(&file, &text)
    } else {
        parse_csv(&file, &text)
    }
}

#[cfg(test)]
mod tests;

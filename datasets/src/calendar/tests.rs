use super::*;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn holidays_named(c: &Calendar, name: &str, year: i32) -> Vec<NaiveDate> {
    c.iter()
        .filter(|(date, _)| date.year() == year || (date.year() == year - 1 && date.month() == 12))
        .filter(|(date, _)| c.holiday_name(*date) == Some(name))
        .map(|(date, _)| date)
        .collect()
}

fn makeups(c: &Calendar, from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
    c.iter()
        .filter(|(date, _)| *date >= from && *date <= to && c.is_makeup_workday(*date))
        .map(|(date, _)| date)
        .collect()
}

fn range(a: NaiveDate, b: NaiveDate) -> Vec<NaiveDate> {
    a.iter_days().take_while(|x| *x <= b).collect()
}

/// State Council notice 国办发明电〔2023〕7号 (holidays 2024).
#[test]
fn cn_2024_matches_the_state_council_notice() {
    let c = cn().unwrap();
    let spring = holidays_named(&c, "Spring Festival", 2024);
    assert_eq!(spring, range(d(2024, 2, 10), d(2024, 2, 17)));
    assert!(c.is_makeup_workday(d(2024, 2, 4)));
    assert!(c.is_makeup_workday(d(2024, 2, 18)));
    let cases = [
        ("New Year", d(2023, 12, 30), d(2024, 1, 1)),
        ("Qingming", d(2024, 4, 4), d(2024, 4, 6)),
        ("Labour Day", d(2024, 5, 1), d(2024, 5, 5)),
        ("Dragon Boat", d(2024, 6, 8), d(2024, 6, 10)),
        ("Mid-Autumn", d(2024, 9, 15), d(2024, 9, 17)),
        ("National Day", d(2024, 10, 1), d(2024, 10, 7)),
    ];
    for (name, a, b) in cases {
        assert_eq!(holidays_named(&c, name, 2024), range(a, b), "{name}");
    }
    assert_eq!(
        makeups(&c, d(2024, 1, 1), d(2024, 12, 31)),
        vec![
            d(2024, 2, 4),
            d(2024, 2, 18),
            d(2024, 4, 7),
            d(2024, 4, 28),
            d(2024, 5, 11),
            d(2024, 9, 14),
            d(2024, 9, 29),
            d(2024, 10, 12),
        ]
    );
    // Features around the Spring Festival break.
    let eve = c.features(d(2024, 2, 9));
    assert!(eve.eve && !eve.holiday && !eve.off_day);
    let back = c.features(d(2024, 2, 18));
    assert!(back.day_after && back.makeup_workday && !back.off_day);
    assert!(c.features(d(2024, 2, 4)).makeup_workday);
    assert!(!c.is_off_day(d(2024, 2, 4)));
}

/// State Council notices 国办发明电〔2018〕15号 and 〔2019〕 Labour Day amendment (holidays 2019).
#[test]
fn cn_2019_matches_the_state_council_notice() {
    let c = cn().unwrap();
    let cases = [
        ("New Year", d(2018, 12, 30), d(2019, 1, 1)),
        ("Spring Festival", d(2019, 2, 4), d(2019, 2, 10)),
        ("Qingming", d(2019, 4, 5), d(2019, 4, 7)),
        ("Labour Day", d(2019, 5, 1), d(2019, 5, 4)),
        ("Dragon Boat", d(2019, 6, 7), d(2019, 6, 9)),
        ("Mid-Autumn", d(2019, 9, 13), d(2019, 9, 15)),
        ("National Day", d(2019, 10, 1), d(2019, 10, 7)),
    ];
    for (name, a, b) in cases {
        assert_eq!(holidays_named(&c, name, 2019), range(a, b), "{name}");
    }
    assert_eq!(
        makeups(&c, d(2018, 12, 29), d(2019, 12, 31)),
        vec![
            d(2018, 12, 29),
            d(2019, 2, 2),
            d(2019, 2, 3),
            d(2019, 4, 28),
            d(2019, 5, 5),
            d(2019, 9, 29),
            d(2019, 10, 12),
        ]
    );
    let golden = c.features(d(2019, 9, 30));
    assert!(golden.eve && !golden.off_day);
    assert!(c.features(d(2019, 10, 8)).day_after);
}

#[test]
fn cn_covers_2014_to_2026_with_english_names_only() {
    let c = cn().unwrap();
    for y in 2014..=2026 {
        let spring = holidays_named(&c, "Spring Festival", y)
            .into_iter()
            .filter(|x| x.year() == y)
            .count();
        assert!(spring >= 7, "{y}: {spring} Spring Festival days");
        let national = holidays_named(&c, "National Day", y).len();
        assert!(national >= 7, "{y}: {national} National Day days");
    }
    for (_, kinds) in c.iter() {
        for k in kinds {
            assert!(k.name().is_ascii(), "untranslated name {}", k.name());
        }
    }
}

#[test]
fn us_federal_holidays_and_observed_days() {
    let c = us();
    let name = |y, m, dd| c.holiday_name(d(y, m, dd));
    assert_eq!(name(2021, 7, 5), Some("Independence Day (observed)"));
    assert_eq!(name(2021, 7, 4), Some("Independence Day"));
    assert_eq!(name(2022, 12, 26), Some("Christmas Day (observed)"));
    assert_eq!(name(2021, 12, 31), Some("New Year's Day (observed)"));
    assert_eq!(name(2014, 11, 27), Some("Thanksgiving Day"));
    assert_eq!(name(2015, 1, 19), Some("Martin Luther King Jr. Day"));
    assert_eq!(name(2014, 9, 1), Some("Labor Day"));
    assert_eq!(name(2014, 10, 13), Some("Columbus Day"));
    assert_eq!(name(2014, 5, 26), Some("Memorial Day"));
    assert_eq!(name(2015, 2, 16), Some("Washington's Birthday"));
    assert_eq!(name(2020, 7, 3), Some("Independence Day (observed)"));
    assert_eq!(name(2022, 6, 20), Some("Juneteenth (observed)"));
    assert_eq!(name(2020, 6, 19), None, "Juneteenth only from 2021");
    // Eve and day after: Black Friday is the day after Thanksgiving.
    let f = c.features(d(2014, 11, 28));
    assert!(f.day_after && !f.holiday);
    assert!(c.features(d(2014, 11, 26)).eve);
    assert!(c.features(d(2014, 12, 24)).eve);
    // 11 holidays a year since 2021, each once.
    let n2023 = c
        .iter()
        .filter(|(x, k)| {
            x.year() == 2023
                && k.iter().any(|k| matches!(k, DayKind::Holiday { .. }))
                && !k.iter().any(|k| k.name().contains("observed"))
        })
        .count();
    assert_eq!(n2023, 11);
    // Plus two named crests that are not days off.
    assert!(c.has_event(d(2023, 12, 31)) && !c.is_holiday(d(2023, 12, 31)));
    assert!(c.has_event(d(2023, 11, 24)));
}

#[test]
fn toml_events_merge_onto_a_builtin() {
    let text = r#"
[[event]]
name = "11.11 sale"
date = "2024-11-11"

[[event]]
name = "Marathon"
from = "2024-11-02"
to = "2024-11-03"
kind = "event"
"#;
    let mut c = builtin("cn").unwrap();
    c.merge(&parse_toml("events.toml", text).unwrap());
    assert!(c.has_event(d(2024, 11, 11)));
    assert!(c.features(d(2024, 11, 3)).event);
    assert!(!c.has_event(d(2024, 11, 4)));
    assert!(c.is_holiday(d(2024, 10, 1)));
}

#[test]
fn csv_events_with_ranges_and_kinds() {
    let text = "name,from,to,kind\n\"Sale, big\",2024-11-11,,\nCompany day,2024-03-01,2024-03-02,holiday\n";
    let c = parse_csv("ev.csv", text).unwrap();
    assert_eq!(c.kinds(d(2024, 11, 11))[0].name(), "Sale, big");
    assert!(c.is_holiday(d(2024, 3, 2)));
}

#[test]
fn toml_errors_name_line_and_field() {
    let text = "[[event]]\nname = \"x\"\ndate = \"2024-13-01\"\n";
    assert_eq!(
        parse_toml("ev.toml", text).unwrap_err().to_string(),
        "failed to read calendar ev.toml: line 3, field \"date\": cannot parse \"2024-13-01\" as a date (expected YYYY-MM-DD)"
    );
    let text = "[[event]]\nname = \"x\"\nfrom = \"2024-11-05\"\nto = \"2024-11-01\"\n";
    assert_eq!(
        parse_toml("ev.toml", text).unwrap_err().to_string(),
        "failed to read calendar ev.toml: line 4, field \"to\": the range ends (2024-11-01) before it starts (2024-11-05)"
    );
    let text = "[[event]]\nname = \"x\"\n";
    let e = parse_toml("ev.toml", text).unwrap_err().to_string();
    assert!(
        e.contains("line 2, field \"date\": event \"x\" needs either"),
        "{e}"
    );
    let text = "[[event]]\nname = \"x\"\ndate = \"2024-01-01\"\ncolour = \"red\"\n";
    let e = parse_toml("ev.toml", text).unwrap_err().to_string();
    assert!(
        e.starts_with("failed to read calendar ev.toml: line 4"),
        "{e}"
    );
    assert!(e.contains("colour"), "{e}");
}

#[test]
fn csv_errors_name_line_and_field() {
    let text = "name,from,to\nok,2024-01-01,\nbad,2024-02-30,\n";
    assert_eq!(
        parse_csv("ev.csv", text).unwrap_err().to_string(),
        "failed to read calendar ev.csv: line 3, field \"from\": cannot parse \"2024-02-30\" as a date (expected YYYY-MM-DD)"
    );
    let e = parse_csv("ev.csv", "title,when\nx,2024-01-01\n")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "failed to read calendar ev.csv: line 1, field \"name\": missing column \"name\" (found title,when; expected name,from,to[,kind])"
    );
}

#[test]
fn resolve_calendar_specs() {
    assert!(resolve_calendar("none").unwrap().is_empty());
    assert!(resolve_calendar("us").unwrap().is_holiday(d(2014, 7, 4)));
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ev.toml");
    std::fs::write(&p, "[[event]]\nname = \"sale\"\ndate = \"2024-11-11\"\n").unwrap();
    let spec = format!("cn+{}", p.display());
    let c = resolve_calendar(&spec).unwrap();
    assert!(c.has_event(d(2024, 11, 11)) && c.is_holiday(d(2024, 2, 12)));
    let e = resolve_calendar("mars").unwrap_err().to_string();
    assert_eq!(
        e,
        "failed to read calendar mars: not a built-in calendar (none, us, cn) and not a file"
    );
    assert!(resolve_calendar("cn+").is_err());
}

/// The lunar festival days (from the Chinese lunisolar calendar) are the
/// principal days of their holidays: Mid-Autumn 2011 was the last of its
/// three days off, Mid-Autumn 2010 the first.
#[test]
fn cn_lunar_holidays_are_anchored_on_their_festival_day() {
    let c = cn().unwrap();
    let principal = |name: &str, year: i32| {
        let p = c
            .holiday_periods()
            .into_iter()
            .find(|p| p.name == name && p.last.year() == year)
            .unwrap();
        c.principal_day(&p)
    };
    assert_eq!(principal("Mid-Autumn", 2010), d(2010, 9, 22));
    assert_eq!(principal("Mid-Autumn", 2011), d(2011, 9, 12));
    assert_eq!(principal("Mid-Autumn", 2014), d(2014, 9, 8));
    assert_eq!(principal("Dragon Boat", 2012), d(2012, 6, 23));
    assert_eq!(principal("Dragon Boat", 2013), d(2013, 6, 12));
    assert_eq!(principal("Spring Festival", 2013), d(2013, 2, 10));
    assert_eq!(principal("Spring Festival", 2014), d(2014, 1, 31));
    assert_eq!(principal("Spring Festival", 2024), d(2024, 2, 10));
    assert_eq!(
        principal("Qingming", 2012),
        d(2012, 4, 4),
        "the last day off"
    );
    assert_eq!(
        principal("Qingming", 2014),
        d(2014, 4, 5),
        "the first day off"
    );
    // Not a lunar holiday: its first day off.
    assert_eq!(principal("National Day", 2014), d(2014, 10, 1));
}

/// The Qingming rule against the almanac's dates, 2008..=2027.
#[test]
fn qingming_falls_on_the_almanac_day() {
    let fifth = [2010, 2011, 2014, 2015, 2018, 2019, 2022, 2023, 2026, 2027];
    for y in 2008..=2027 {
        let day = if fifth.contains(&y) { 5 } else { 4 };
        assert_eq!(qingming_day(y), Some(d(y, 4, day)), "{y}");
    }
    assert_eq!(qingming_day(1999), None);
}

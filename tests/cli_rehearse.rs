//! `crest rehearse`: the holiday backtest, the README's main job.
//!
//! Every crest of a history is forecast with the data before each decision,
//! planned, gated and replayed in crest-sim against static-peak and reactive
//! scaling swept over its target. One configuration (the defaults) for every
//! crest and dataset. The targets are checked here per dataset:
//! crest has 0 SLO-violation minutes on every crest, total instance-hours at
//! most 60 % of static peak's, and no reactive target has both
//! fewer-or-equal violation minutes and fewer-or-equal instance-hours.
//! Where a target does not hold yet, the test asserts what does and names
//! the gap (see README, "Known limits").

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns: a panic is the failure report

use std::process::{Command, Output};

use serde_json::Value;

fn crest(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crest"))
        .args(args)
        .output()
        .unwrap()
}

fn json(args: &[&str]) -> Value {
    let mut all = vec!["rehearse", "--format", "json"];
    all.extend_from_slice(args);
    let o = crest(&all);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// `crest rehearse` on one NYC taxi crest, in the default format unless
/// `extra` says otherwise.
fn nyc_taxi_crest(name: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "rehearse",
        "--history",
        "nyc_taxi",
        "--calendar",
        "us",
        "--crests",
        name,
    ];
    args.extend_from_slice(extra);
    crest(&args)
}

fn f(v: &Value, k: &str) -> f64 {
    v[k].as_f64()
        .unwrap_or_else(|| panic!("no number {k} in {v}"))
}

/// (crests with 0 violation minutes, crests on or below reactive's
/// frontier, crest's share of static peak's instance-hours).
fn targets(v: &Value) -> (Vec<String>, Vec<String>, f64) {
    let mut zero = Vec::new();
    let mut below = Vec::new();
    for c in v["crests"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap().to_string();
        let (cv, cih) = (
            f(&c["crest"], "slo_violation_minutes"),
            f(&c["crest"], "instance_hours"),
        );
        if cv == 0.0 {
            zero.push(name.clone());
        }
        let dominated = c["reactive"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| f(r, "slo_violation_minutes") <= cv && f(r, "instance_hours") <= cih);
        if !dominated {
            below.push(name);
        }
    }
    let share =
        f(&v["total"]["crest"], "instance_hours") / f(&v["total"]["static_peak"], "instance_hours");
    (zero, below, share)
}

/// The Area1 targets on its crest set, Spring Festival and National
/// Day 2010-2014: each has 0 violation minutes (`zero`) and is on or below
/// reactive's frontier (`below`), as [`targets`] gives them for `v`.
fn assert_spring_festival_and_national_day_hold(zero: &[String], below: &[String], v: &Value) {
    for year in 2010..=2014 {
        for name in ["spring-festival", "national-day"].map(|h| format!("{h}-{year}")) {
            assert!(zero.contains(&name), "{name} has violation minutes: {v}");
            assert!(
                below.contains(&name),
                "{name} is above reactive's frontier: {v}"
            );
        }
    }
}

#[test]
fn json_has_the_documented_shape_every_setting_and_is_reproducible() {
    let args = [
        "--history",
        "nyc_taxi",
        "--calendar",
        "us",
        "--crests",
        "new-year-s-day-2015",
        "--seed",
        "7",
    ];
    let dir = tempfile::tempdir().unwrap();
    let plots = dir.path().join("img");
    let mut with_plot = args.to_vec();
    with_plot.extend(["--plot", plots.to_str().unwrap()]);
    let v = json(&with_plot);
    let keys = |x: &Value| -> Vec<String> { x.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(keys(&v), ["crests", "settings", "total"]);
    let c = &v["crests"][0];
    assert_eq!(
        keys(c),
        ["crest", "from", "name", "reactive", "static_peak", "to"]
    );
    assert_eq!(c["name"], "new-year-s-day-2015");
    assert_eq!(keys(&c["crest"]["gate"]), ["p_breach", "passed"]);
    assert_eq!(c["reactive"].as_array().unwrap().len(), 10);
    assert_eq!(c["reactive"][0]["target"], 0.45);
    for k in [
        "crest_reactive_target",
        "early_ramps",
        "static_utilisation",
        "reactive_targets",
        "scale",
        "scale_in_hold_s",
        "replay",
        "seed",
    ] {
        assert!(v["settings"].get(k).is_some(), "no setting {k}");
    }
    assert_eq!(v["settings"]["replay"], "fluid");
    for png in ["new-year-s-day-2015.png", "frontier.png"] {
        let bytes = std::fs::read(plots.join(png)).unwrap();
        assert_eq!(&bytes[1..4], b"PNG", "{png}");
    }
    // Same seed, same bytes.
    let mut again = vec!["rehearse", "--format", "json"];
    again.extend_from_slice(&args);
    assert_eq!(
        serde_json::to_string(&v).unwrap().into_bytes(),
        serde_json::to_string(&serde_json::from_slice::<Value>(&crest(&again).stdout).unwrap())
            .unwrap()
            .into_bytes()
    );
}

#[test]
fn bad_input_is_named() {
    for (args, needle) in [
        (vec!["--crests", "easter"], "unknown crest \"easter\""),
        (vec!["--calendar", "mars"], "calendar \"mars\""),
        (vec!["--scale", "-1"], "--scale -1"),
        (
            vec!["--crests", "2014-12-31..2014-12-01"],
            "end must come after",
        ),
        (vec!["--history", "no_such_data"], "no_such_data"),
        (vec!["--plan-ahead", "90d"], "plan ahead"),
        (vec!["--stress", "surge=x"], "invalid stress case"),
        (vec!["--level-quantile", "1.5"], "level quantile"),
    ] {
        let mut all = vec!["rehearse"];
        all.extend(args.iter());
        let o = crest(&all);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// NYC taxi, every crest (`--crests auto`, the defaults; part of the data
/// the defaults were chosen on: its 2014 Thanksgiving, Christmas and New
/// Year). Measured: 0 violation minutes on all seven, 35 % of static peak,
/// on or below reactive's frontier on all seven (19-34 % cheaper than the
/// cheapest zero-violation reactive target; New Year's Day 2015 was 13 %
/// before crest learned its level margin from ordinary days instead of the
/// Christmas week before it).
#[test]
fn nyc_taxi_targets() {
    let v = json(&[
        "--history",
        "nyc_taxi",
        "--calendar",
        "us",
        "--crests",
        "auto",
    ]);
    let (zero, below, share) = targets(&v);
    assert_eq!(v["crests"].as_array().unwrap().len(), 7, "{v}");
    assert_eq!(zero.len(), 7, "0 violation minutes only on {zero:?}: {v}");
    assert!(share <= 0.40, "crest uses {share:.2} of static peak: {v}");
    assert_eq!(
        below.len(),
        7,
        "on or below reactive's frontier: {below:?}: {v}"
    );
}

/// Area1 (cn), every crest (`--crests auto`: the issue's own command, 39
/// holiday crests 2009-2015; 2011 was looked at when the defaults were
/// chosen, the other years were not). Measured (release build, about 3 min
/// wall on 2 cores): all ten Spring Festival and National Day crests
/// 2010-2014 (the target set) have 0 violation minutes; 38 of 39
/// crests do (Dragon Boat 2013: 5 minutes, a 15-minute workday-morning ramp
/// after a short holiday), 29 % of static peak; on or below reactive's
/// frontier on 38 of 39 (above it: Mid-Autumn 2011 by 3.2 %, where reactive
/// at 0.80 is violation-free), every Spring Festival and National Day
/// 0.9-3.1 % under the cheapest violation-free reactive target. Qingming
/// 2011 had 1 minute (the first workday back, 08:00) until the policy
/// tracked live demand against each shape a holiday forecast blends (SF/ND
/// 1.1-3.1 % under then). Before the forecaster's analog compared the first day back with
/// the earlier festival days: 10 minutes, 35 and 37 of 39 (Dragon Boat
/// 2010 and Mid-Autumn 2014 2 minutes each); with the replays' scale-out
/// limit read as one batch per window: 7 minutes, 36 and 38 of 39.
/// National Day 2010 was 1.3 % above it while crest learned its level margin
/// from the week before its window, which is Mid-Autumn 2010's (margin
/// 1.053); it learns from the ordinary days before the window now. The
/// gaps are asserted, not hidden: update this when they close.
#[test]
fn area1_targets() {
    let v = json(&[
        "--history",
        "china_load_area1",
        "--calendar",
        "cn",
        "--crests",
        "auto",
    ]);
    let crests = v["crests"].as_array().unwrap();
    assert_eq!(crests.len(), 39, "{v}");
    let (zero, below, share) = targets(&v);
    assert_spring_festival_and_national_day_hold(&zero, &below, &v);
    assert!(
        zero.len() >= 38,
        "0 violation minutes only on {zero:?}: {v}"
    );
    let minutes = f(&v["total"]["crest"], "slo_violation_minutes");
    assert!(minutes <= 5.0, "{minutes} violation minutes: {v}");
    assert!(share <= 0.30, "crest uses {share:.2} of static peak: {v}");
    assert!(
        below.len() >= 38,
        "on or below reactive's frontier: {below:?}: {v}"
    );
    // Where crest is above the frontier, by how much: the cheapest reactive
    // target with at most crest's violation minutes.
    for c in crests {
        let (cv, cih) = (
            f(&c["crest"], "slo_violation_minutes"),
            f(&c["crest"], "instance_hours"),
        );
        let cheapest = c["reactive"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| f(r, "slo_violation_minutes") <= cv)
            .map(|r| f(r, "instance_hours"))
            .fold(f64::INFINITY, f64::min);
        assert!(
            cih / cheapest - 1.0 < 0.045,
            "{}: crest {cih} ih against reactive's {cheapest}: {v}",
            c["name"]
        );
    }
}

/// The bundled Area1 load file's text (to rewrite into another region's).
fn area1_load() -> String {
    let src = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/datasets/data/china-load/Area1_Load.csv"
    );
    std::fs::read_to_string(src).unwrap()
}

/// The held-out check runs the command on another region's file.
/// Area1 is an industrial load: it falls for a week around Spring Festival.
/// A residential or commercial region can rise instead. This rewrites the
/// bundled Area1 so that every Spring Festival's days off carry 25 % more
/// load and the two days either side 10 % more (the calendar's own periods,
/// so the history before each crest shows the rise in earlier years), and
/// runs `--crests auto` on it with the defaults, chosen on Area1's falling
/// festivals. Measured (release build, 3.5-4.5 min wall): every Spring
/// Festival and National Day 2010-2014 with 0 violation minutes and on or
/// below reactive's frontier (Spring Festival 1.4-8.0 % under the cheapest
/// violation-free reactive target), 38 of 39 crests on the frontier, 5
/// violation minutes in all, 31 % of static peak (dev test build: 189 s;
/// 37 of 39 and 7 minutes before the forecaster's analog compared the
/// first day back with the earlier festival days; with the replays'
/// scale-out limit read as one batch per window: Spring Festival 1.3-1.9 %
/// under, 37 of 39, 11 minutes). With the policy tracking each shape a
/// holiday forecast blends, on the same rewrite made outside the test
/// (release build): 5 minutes (Dragon Boat 2013), 38 of 39 clean and 38
/// of 39 on the frontier, Spring Festival 1.4-7.9 % under, 31 % of static.
#[test]
fn a_region_whose_spring_festival_rises_keeps_the_targets() {
    let text = area1_load();
    let cal = crest_datasets::calendar::cn().unwrap();
    let festivals: Vec<_> = cal
        .holiday_periods()
        .into_iter()
        .filter(|p| p.name == "Spring Festival")
        .collect();
    assert!(festivals.len() >= 6, "{festivals:?}");
    let around = crest_core::EffectWindow {
        before: 2,
        after: 2,
    };
    let factor = |d: chrono::NaiveDate| {
        festivals
            .iter()
            .find_map(|p| {
                let (from, to) = p.window_span(around);
                let off = (p.first..=p.last).contains(&d);
                (from..=to)
                    .contains(&d)
                    .then_some(if off { 1.25 } else { 1.1 })
            })
            .unwrap_or(1.0)
    };
    let mut out = String::new();
    let mut risen = 0;
    for (n, line) in text.lines().enumerate() {
        let mut cells = line.split(',');
        let date = cells.next().unwrap();
        if n == 0 {
            out.push_str(line);
        } else {
            let k = factor(chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap());
            risen += usize::from(k > 1.0);
            out.push_str(date);
            for c in cells {
                out.push(',');
                if let Ok(x) = c.parse::<f64>() {
                    out.push_str(&format!("{:.4}", x * k));
                } else {
                    out.push_str(c);
                }
            }
        }
        out.push('\n');
    }
    // Six festivals inside the data (2009-2014), 7 days off and 4 around each.
    assert_eq!(risen, 6 * 11, "days rewritten");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sf_rises_load.csv");
    std::fs::write(&file, out).unwrap();
    let v = json(&[
        "--history",
        file.to_str().unwrap(),
        "--calendar",
        "cn",
        "--crests",
        "auto",
    ]);
    assert_eq!(v["crests"].as_array().unwrap().len(), 39, "{v}");
    let (zero, below, share) = targets(&v);
    assert_spring_festival_and_national_day_hold(&zero, &below, &v);
    assert!(
        below.len() >= 36,
        "on or below reactive's frontier: {below:?}: {v}"
    );
    assert!(share <= 0.32, "crest uses {share:.2} of static peak: {v}");
}

/// `--scale auto` sizes every fleet from the highest value before the first
/// crest. One glitched cell there (a reading tripled, 16,500 between 5,476
/// and 5,540) is passed over: the scale is the clean file's, so reactive's
/// replays are too. The forecasts still learn from the glitch (measured:
/// crest 4,890.1 instance-hours clean and 4,890.4 glitched, static peak
/// 28,224 and 27,720). With the glitch as the peak the scale fell from
/// 0.288 to 0.121, and every fleet to about 40 %.
#[test]
fn a_glitched_cell_before_the_first_crest_does_not_set_the_scale() {
    let text = area1_load();
    let mut glitched = 0;
    let out: String = text
        .lines()
        .map(|line| {
            let mut cells: Vec<String> = line.split(',').map(str::to_string).collect();
            if cells[0] == "2009-02-10" {
                // T1000
                let x: f64 = cells[41].parse().unwrap();
                cells[41] = format!("{}", x * 3.0);
                glitched += 1;
            }
            cells.join(",") + "\n"
        })
        .collect();
    assert_eq!(glitched, 1);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("glitched_load.csv");
    std::fs::write(&file, out).unwrap();
    let run = |history: &str| {
        json(&[
            "--history",
            history,
            "--calendar",
            "cn",
            "--crests",
            "qingming-2009",
        ])
    };
    let (clean, dirty) = (run("china_load_area1"), run(file.to_str().unwrap()));
    assert_eq!(clean["settings"]["scale"], dirty["settings"]["scale"]);
    let (c, d) = (&clean["crests"][0], &dirty["crests"][0]);
    assert_eq!(c["reactive"], d["reactive"]);
    let ih = |v: &Value| f(&v["crest"], "instance_hours");
    assert!((ih(d) / ih(c) - 1.0).abs() < 0.01, "{c} against {d}");
}

/// Bike sharing (us), every crest (2011 was looked at when the defaults were
/// chosen, 2012 was not, though the analog's weight and the tracking of
/// each shape below were designed after looking at 2012's violations).
/// Measured: 0 SLO-violation minutes on all 17 crests (also over `--seed`
/// 1, 2 and 3), 17 % of static peak, below reactive's whole frontier on all
/// 17 (no reactive target gets down to crest's violation minutes: reactive
/// at 0.45 still has 16-105 minutes per crest). Independence Day 2012 kept
/// 1 minute (1 / 2 / 0 / 2 over `--seed` 42 / 1 / 2 / 3) until the policy
/// tracked live demand against each shape the holiday forecast blends (a
/// workday's and a day off's) instead of against the blend alone (45,189
/// instance-hours then, 45,958 now). Christmas 2012 had 3
/// until the forecaster's analog compared the first day back with the
/// earlier festival days. Without early ramps it was 16 minutes on 6
/// crests (2012: 11 minutes, 7 of 10 clean); with the replays' scale-out
/// limit read as one batch per window, 2 minutes on 2 crests. It was 41
/// minutes and 9
/// crests (2012: 36 and 5) before the holiday analog was weighed against
/// the models by how far each holiday's windows moved beyond ordinary days'
/// noise (the 2012 crests are the first with an earlier year to copy, and a
/// year of hourly rentals copies its storms and its 05:00 handfuls; static
/// peak's week-ahead forecast got better too, hence the larger share of a
/// smaller static peak), 51 minutes and 7
/// crests before a level below the forecast was expected to climb back at
/// the rate learned from the week before (2011: 18 -> 5 minutes; 2012: 33
/// -> 36), 138 and 3 before the level margin was learned from the live
/// levels the policy measures (night hours included) rather than from the
/// gate's scenario profiles (which count near-zero forecasts as 1), 114 and
/// 5 before the forecaster's naive-relative guard and learned blend, 134
/// and 4 before the holiday analog stopped comparing a day off with a day
/// that was not one in the earlier year; this test caught each.
#[test]
fn bike_sharing_targets() {
    let o = crest(&[
        "rehearse",
        "--format",
        "json",
        "--history",
        "bike_sharing",
        "--calendar",
        "us",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    // The hours the data miss inside a window are bridged, and said so.
    assert!(
        err.contains(
            "christmas-day-2011: 3 missing step(s) of the actual demand filled by linear interpolation"
        ),
        "{err}"
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let (zero, below, share) = targets(&v);
    assert_eq!(v["crests"].as_array().unwrap().len(), 17, "{v}");
    assert!(share <= 0.18, "crest uses {share:.2} of static peak: {v}");
    assert_eq!(
        below.len(),
        17,
        "on or below reactive's frontier: {below:?}: {v}"
    );
    assert_eq!(zero.len(), 17, "0 violation minutes only on {zero:?}: {v}");
}

/// `--early-ramps` (on by default), at the full run's scale, on the two
/// crests the full run without it has violation minutes on: Labor Day and
/// Christmas 2011, whose holidays have no earlier year in the data, so the
/// models alone forecast them and a rush an hour before the forecast has it
/// breaks through. Measured: 0 and 0 minutes with early ramps (1,465 and
/// 5,531 instance-hours), 3 and 2 without (1,358 and 5,043). It was chosen
/// on Washington's Birthday and Independence Day 2012 (0 and 1 minutes
/// with, 4 and 1 without); since the policy tracks live demand against
/// each shape a holiday forecast blends, those two are 0 either way (1,236
/// and 2,579 instance-hours with, 1,083 and 2,230 without).
#[test]
fn early_ramps_clear_bike_sharings_rushes_an_hour_early() {
    let minutes = |early: &str| -> Vec<f64> {
        let v = json(&[
            "--history",
            "bike_sharing",
            "--calendar",
            "us",
            "--crests",
            "labor-day-2011,christmas-day-2011",
            "--scale",
            "3.2733224222585924",
            "--early-ramps",
            early,
        ]);
        assert_eq!(v["settings"]["early_ramps"], early == "true", "{v}");
        v["crests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| f(&c["crest"], "slo_violation_minutes"))
            .collect()
    };
    let (with, without) = (minutes("true"), minutes("false"));
    assert_eq!(with, [0.0, 0.0], "{with:?}");
    assert!(without.iter().all(|m| *m > 0.0), "{without:?}");
}

/// `--plan-ahead 7d`: each day's plan is decided a week before it (in the
/// JSON settings as `decision_lead_s`). Measured on Thanksgiving and New Year
/// 2014: 0 violation minutes either way, 5,181 instance-hours a week ahead
/// against 5,150 day-ahead (tracking the live level, the plan's age matters
/// little). Here on Labor Day, the smallest crest.
#[test]
fn plan_ahead_a_week() {
    let base = [
        "--history",
        "nyc_taxi",
        "--calendar",
        "us",
        "--crests",
        "labor-day-2014",
    ];
    let day = json(&base);
    let mut a = base.to_vec();
    a.extend(["--plan-ahead", "7d"]);
    let week = json(&a);
    assert_eq!(week["settings"]["decision_lead_s"], 604_800);
    assert_eq!(day["settings"]["decision_lead_s"], 3600);
    for v in [&day, &week] {
        assert_eq!(
            f(&v["crests"][0]["crest"], "slo_violation_minutes"),
            0.0,
            "{v}"
        );
    }
    // A different plan: made from a forecast six days older.
    assert_ne!(
        f(&day["crests"][0]["crest"], "instance_hours"),
        f(&week["crests"][0]["crest"], "instance_hours")
    );
}

/// The table (the default format) on one crest: the least any strategy
/// could pay (each step's demand at the per-instance capacity, instances
/// there at once) is its last column, below what static peak, crest and reactive's cheapest
/// violation-free target paid, and the footnote gives crest's excess over
/// it. Measured on New Year's Day 2015: floor 1,863 instance-hours, crest
/// 2,289, reactive at 0.55 2,824.
#[test]
fn the_table_shows_the_floor_no_strategy_gets_below() {
    let o = nyc_taxi_crest("new-year-s-day-2015", &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = t.lines().collect();
    assert!(lines[1].trim_end().ends_with("floor ih"), "{t}");
    let row: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(row[0], "new-year-s-day-2015", "{t}");
    let num = |s: &str| s.parse::<f64>().unwrap_or_else(|_| panic!("{s} in {t}"));
    let ih_of = |pair: &str| num(pair.split('/').nth(1).unwrap());
    let floor = num(row[row.len() - 1]);
    let (stat, crest_ih) = (ih_of(row[2]), ih_of(row[3]));
    // The two reactive columns: "N ih @T" each.
    let reactive: Vec<f64> = row
        .windows(2)
        .filter(|w| w[1] == "ih")
        .map(|w| num(w[0]))
        .collect();
    assert_eq!(reactive.len(), 2, "{t}");
    assert!(floor > 0.0, "{t}");
    for paid in [stat, crest_ih, reactive[0], reactive[1]] {
        assert!(floor < paid, "floor {floor} not below {paid}: {t}");
    }
    let total: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(total[0], "total", "{t}");
    assert_eq!(num(total[total.len() - 1]), floor, "{t}");
    // From unrounded figures: within a point of the rounded ones.
    let over = t
        .split("crest pays ")
        .nth(1)
        .and_then(|r| r.split(" % over it").next())
        .map(num)
        .unwrap_or_else(|| panic!("no excess over the floor in {t}"));
    assert!(
        (over - 100.0 * (crest_ih / floor - 1.0)).abs() <= 1.0,
        "{over} % in {t}"
    );
}

/// The report as a reader gets it, byte for byte: the table and the JSON of
/// NYC taxi's smallest crest against golden files. A changed figure,
/// column or line shows here. After a deliberate change, `CREST_BLESS=1
/// cargo test --test cli_rehearse the_report_of_one_crest` rewrites them,
/// and their diff goes into the commit.
#[test]
fn the_report_of_one_crest_is_the_golden_file() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");
    for (format, file) in [
        ("table", "rehearse_nyc_taxi_labor_day_2014.txt"),
        ("json", "rehearse_nyc_taxi_labor_day_2014.json"),
    ] {
        let o = nyc_taxi_crest("labor-day-2014", &["--format", format]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let got = String::from_utf8(o.stdout).unwrap();
        let path = format!("{dir}/{file}");
        if std::env::var_os("CREST_BLESS").is_some() {
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap();
        assert!(
            got == want,
            "{file} differs (CREST_BLESS=1 to accept):\n--- want\n{want}\n--- got\n{got}"
        );
    }
}

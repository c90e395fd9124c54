//! The holiday targets on the bundled Chinese regional load (Area 1, 15-min):
//! day-ahead forecasts at every midnight from ten days before to sixteen
//! days after each Spring Festival, each with all data before it, beside
//! daily naive (yesterday's profile) computed in the same run.
//!
//! No setting of the holiday analog was chosen on 2013-2014: its one
//! learned parameter (the weekly profile's strength in a holiday's windows)
//! is learned per forecast from earlier years only. Design choices were made
//! looking at 2010-2012; 2013-2014 are pinned separately as the held-back
//! years.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use crest_forecast::ForecastConfig;
use crest_forecast::backtest::{HolidayFilter, HolidaySpan, backtest_around_holidays};

fn bundled(name: &str) -> crest_core::Series {
    crest_datasets::bundled(name).unwrap().series.remove(0)
}

fn area1() -> crest_core::Series {
    bundled("china_load_area1")
}

fn run(years: (i32, i32)) -> crest_forecast::backtest::HolidayBacktest {
    run_named(&["Spring Festival"], years, HolidaySpan::Offsets(-10, 16))
}

fn run_named(
    names: &[&str],
    years: (i32, i32),
    span: HolidaySpan,
) -> crest_forecast::backtest::HolidayBacktest {
    let cal = crest_datasets::calendar::resolve_calendar("cn").unwrap();
    let cfg = ForecastConfig::new(96).with_calendar(cal);
    let filter = HolidayFilter {
        names: names.iter().map(|n| n.to_string()).collect(),
        years: Some(years),
    };
    backtest_around_holidays(&area1(), &cfg, span, &filter, &|| {}).unwrap()
}

/// The lunar holidays whose festival day moves inside their three days off
/// (Mid-Autumn 2010: the first of them, 2011: the last), at every midnight
/// of their calendar windows (two days either side), 2010-2014. Anchoring
/// the days off on the festival day (`Calendar::principal_day`) instead of
/// the first day off took Dragon Boat from 15.36 % to 11.06 % and
/// Mid-Autumn from 21.14 % to 14.20 % (daily naive 17.12 % and 17.65 %,
/// weekly naive 15.00 % and 14.63 % in the same runs); before it, crest
/// lost to both naives on Mid-Autumn.
#[test]
fn lunar_holidays_follow_their_festival_day() {
    let r = run_named(
        &["Dragon Boat", "Mid-Autumn"],
        (2010, 2014),
        HolidaySpan::EffectWindow,
    );
    let all = &r.overall;
    let (crest, daily, weekly) = (
        all["crest"].wape,
        all["daily_naive"].wape,
        all["weekly_naive"].wape,
    );
    eprintln!(
        "Dragon Boat + Mid-Autumn 2010-2014: crest {crest:.4} daily naive {daily:.4} weekly naive {weekly:.4}"
    );
    assert!(
        crest < daily && crest < weekly,
        "{crest} vs {daily} / {weekly}"
    );
    // 10.47 % (11.96 % before the analog compared each day with its own
    // counterpart in the earlier years, 12.48 % before it was weighed
    // against the models).
    assert!(crest <= 0.125, "crest WAPE {crest}");
}

#[test]
fn spring_festival_day_ahead_beats_daily_naive_every_year() {
    let r = run((2010, 2014));
    assert_eq!(r.rows.len(), 5);
    for row in &r.rows {
        eprintln!(
            "{} {}: crest {:.2}% (MASE {:.2}, p10-p90 {:.0}%) daily naive {:.2}% weekly naive {:.2}%",
            row.holiday,
            row.year,
            100.0 * row.crest.wape,
            row.crest.mase,
            100.0 * row.crest.interval_coverage,
            100.0 * row.daily_naive.wape,
            100.0 * row.weekly_naive.wape
        );
        assert_eq!(row.origins, 27);
        assert!(
            row.crest.wape < row.daily_naive.wape,
            "{}: crest {} vs daily naive {}",
            row.year,
            row.crest.wape,
            row.daily_naive.wape
        );
    }
    let all = &r.overall;
    let (crest, naive) = (all["crest"].wape, all["daily_naive"].wape);
    eprintln!("2010-2014: crest {crest:.4} daily naive {naive:.4}");
    // Achieved 4.62 % against 9.31 % (2010 5.88, 2011 4.20, 2012 3.78,
    // 2013 3.69, 2014 5.50; 5.52 before the analog compared each day with
    // its own counterpart in the earlier years); 4.49 % (6.29, 3.98, 3.42, 3.41, 5.28) before
    // the analog was weighed against the models by how far the holiday's
    // windows moved beyond ordinary days' noise (Spring Festival's weight
    // about 0.86: the share is the MSE-optimal weight against a forecast
    // that knows no holiday, and the models know a little of it, so here it
    // costs 0.13 points while the other holidays gain), 4.45 % with 2014 at
    // 5.09 before the days off were anchored on the festival day; the
    // issue's target is <= 5 %.
    assert!(crest <= 0.0465, "crest WAPE {crest}");
    assert!((naive - 0.0931).abs() < 0.001, "daily naive moved: {naive}");
    // Held-back years, pinned on their own.
    let y = |year: i32| r.rows.iter().find(|x| x.year == year).unwrap().crest.wape;
    assert!(y(2013) <= 0.0375, "2013: {}", y(2013));
    assert!(y(2014) <= 0.056, "2014: {}", y(2014));
    // The bands know holiday windows are harder: the p10-p90 interval holds
    // at least its 80 % inside the window (ordinary-day calibration alone
    // held 49-78 %); achieved 86-98 %, wider than it need be.
    assert!(
        all["crest"].interval_coverage >= 0.80,
        "p10-p90 coverage {}",
        all["crest"].interval_coverage
    );
}

/// A week-ahead forecast's upper band stays a band. Decided on 2014-05-22
/// (a week before Dragon Boat 2014) from 400 days of history, the p97.5 of
/// the calibration errors once reached 886,212 against a mean peaking at
/// 10,414: the regression's residual autoregression had learned its
/// coefficients from Spring Festival's -60 % residuals (nearly collinear)
/// and corrected calibration paths by e^-10 a week ahead. It now learns
/// them on ordinary steps and never corrects beyond the largest residual
/// it saw: measured p97.5 peak 20,456 (20,484 before the analog compared
/// each day with its own counterpart in the earlier years, and before the
/// regression stopped fitting window days).
#[test]
fn a_week_ahead_band_after_spring_festival_stays_a_band() {
    let s = area1();
    let origin = (chrono::NaiveDate::from_ymd_opt(2014, 5, 22)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp()
        * 1000
        - s.start().millis())
        / (s.step_s() * 1000);
    let cut = usize::try_from(origin).unwrap();
    let hist = s.slice(cut - 400 * 96, cut);
    let cal = crest_datasets::calendar::resolve_calendar("cn").unwrap();
    let cfg = ForecastConfig::new(14 * 96)
        .with_calendar(cal)
        .with_quantiles(vec![
            crest_core::series::Quantile::try_new(0.5).unwrap(),
            crest_core::series::Quantile::try_new(0.975).unwrap(),
        ])
        .with_final_fit(crest_forecast::FinalFit::Gram);
    let f = crest_forecast::forecast(&hist, &cfg).unwrap().forecast;
    let peak = f.mean.iter().copied().fold(0.0, f64::max);
    let top = f
        .quantiles
        .values()
        .last()
        .unwrap()
        .iter()
        .copied()
        .fold(0.0, f64::max);
    eprintln!("mean peak {peak:.0}, p97.5 peak {top:.0}");
    assert!(
        top < 3.0 * peak,
        "p97.5 peaks at {top} against a mean of {peak}"
    );
}

/// Bike sharing's day-ahead forecast of Independence Day 2012 (a
/// Wednesday) blends two forecasts of different shape: the models',
/// learned on ordinary days, with a workday's 08:00 commuter peak, and the
/// holiday analog's of the year before, with a day off's late morning. The
/// forecast carries both as its shapes, the mean between them at every
/// step, so that a policy can track live demand against each; an ordinary
/// day's forecast carries none.
#[test]
fn a_holiday_forecast_carries_the_shapes_it_blends() {
    let s = bundled("bike_sharing");
    let cal = common::us_calendar();
    let at = |m: u32, d: u32| {
        let t = chrono::NaiveDate::from_ymd_opt(2012, m, d)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp()
            * 1000;
        usize::try_from((t - s.start().millis()) / (s.step_s() * 1000)).unwrap()
    };
    let cfg = ForecastConfig::new(24).with_calendar(cal);
    let holiday = crest_forecast::forecast(&s.slice(0, at(7, 4)), &cfg)
        .unwrap()
        .forecast;
    assert_eq!(holiday.shapes.len(), 2, "{holiday:?}");
    let (models, analog) = (&holiday.shapes[0], &holiday.shapes[1]);
    for i in 0..24 {
        let (lo, hi) = (models[i].min(analog[i]), models[i].max(analog[i]));
        assert!(
            lo - 1e-9 <= holiday.mean[i] && holiday.mean[i] <= hi + 1e-9,
            "{i}:00: mean {} outside {lo}..{hi}",
            holiday.mean[i]
        );
    }
    // 08:00 and 09:00: the models' workday falls after its commuter peak,
    // the analog's day off rises.
    assert!(models[8] > models[9], "{models:?}");
    assert!(analog[9] > analog[8], "{analog:?}");
    assert!(models[8] > 2.0 * analog[8], "{models:?} {analog:?}");
    let ordinary = crest_forecast::forecast(&s.slice(0, at(6, 13)), &cfg)
        .unwrap()
        .forecast;
    assert!(ordinary.shapes.is_empty(), "{:?}", ordinary.shapes);
}

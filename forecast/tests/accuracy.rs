//! The accuracy targets on the bundled NYC taxi data, pinned with a
//! little margin so a regression in any model shows up here.
//!
//! Day-ahead: origins at midnight over the last 90 days, horizon 48
//! half-hours, US calendar, WAPE outside NAB's labelled anomaly windows.

mod common;

use crest_core::series::Quantile;
use crest_forecast::ForecastConfig;
use crest_forecast::backtest::{BacktestReport, backtest_series, midnight_origins};
use crest_forecast::watch::{DeviationWatcher, WatchConfig, rolling_band, score_windows};

#[test]
fn nyc_taxi_day_ahead_wape_and_calibration() {
    let s = common::nyc_taxi();
    let cfg = ForecastConfig::new(48).with_calendar(common::us_calendar());
    let origins = midnight_origins(&s, 48, 90);
    assert_eq!(origins.len(), 90);
    let w = common::windows();
    assert_eq!(w.len(), 5);
    let r = backtest_series(&s, &cfg, &origins, &|t| common::in_windows(&w, t), &|| {}).unwrap();
    let report = BacktestReport::new(48, &[r]);
    for (m, x) in &report.overall {
        eprintln!(
            "{m:>15}: WAPE {:.4} sMAPE {:.4} MASE {:.3} coverage {:?} interval {:.3}",
            x.wape, x.smape, x.mase, x.coverage, x.interval_coverage
        );
    }
    eprintln!("auto chose {:?}", report.chosen);
    // The issue quotes 10.0 % for seasonal naive under this protocol (the
    // holiday windows around the scored days move it a little).
    let naive = report.overall["seasonal_naive"].wape;
    assert!((naive - 0.100).abs() < 0.003, "seasonal naive WAPE {naive}");
    // Achieved: auto 5.63 %, ensemble 5.56 %, regression 6.14 %, mstl_ets
    // 7.23 % since the regression learns from ordinary days only (window
    // days are the holiday analog's), its fit and its residual
    // autoregression's coefficients alike. Before, the Thanksgiving-to-New-
    // Year weeks pulled the morning rush of every later weekday down: auto
    // 6.29 %, ensemble 6.28 %, regression 7.46 % (5.85 % with the fit alone
    // on ordinary days). Before the ensemble's weight was learned in
    // calibration: auto 6.61 %; before the holiday analogs, level
    // adaptation and the choice relative to naive: 6.85 %. The issue's
    // target is 6.0 %.
    let auto = &report.overall["auto"];
    assert!(auto.wape <= 0.0575, "auto WAPE {}", auto.wape);
    assert!(auto.wape < naive, "auto must beat seasonal naive");
    let ens = report.overall["ensemble"].wape;
    assert!(ens <= 0.057, "ensemble WAPE {ens}");
    let reg = report.overall["regression"].wape;
    assert!(reg <= 0.063, "regression WAPE {reg}");
    // The automatic choice on holiday-window days and on ordinary days
    // alone: every scored point is one or the other. Measured: WAPE 7.24 %
    // on 867 window points against 5.14 % on 2,579 ordinary ones; p90
    // coverage 0.826 inside the windows (the widened bands still fall short
    // of 0.90 there) and 0.907 outside.
    let inside = &report.overall[crest_forecast::backtest::AUTO_HOLIDAY_WINDOWS];
    let outside = &report.overall[crest_forecast::backtest::AUTO_ORDINARY_DAYS];
    assert_eq!(inside.points + outside.points, auto.points);
    assert!(inside.points > 500, "{} window points", inside.points);
    assert!(
        inside.wape > outside.wape,
        "window days are the harder ones"
    );
    assert!(
        (0.78..=0.95).contains(&inside.coverage["p90"]),
        "{:?}",
        inside.coverage
    );
    assert!(
        (0.85..=0.95).contains(&outside.coverage["p90"]),
        "{:?}",
        outside.coverage
    );
    // Calibration: p90 exceeded about 10 % of the time, p10 about 90 %.
    let p90 = auto.coverage["p90"];
    let p10 = auto.coverage["p10"];
    assert!((0.85..=0.95).contains(&p90), "p90 coverage {p90}");
    assert!((0.04..=0.15).contains(&p10), "p10 coverage {p10}");
}

#[test]
fn nyc_taxi_watch_precision_recall() {
    let s = common::nyc_taxi();
    let cal = common::us_calendar();
    let band_q = [0.05, 0.5, 0.95]
        .map(|q| Quantile::try_new(q).unwrap())
        .to_vec();
    let cfg = ForecastConfig::new(48)
        .with_calendar(cal.clone())
        .with_quantiles(band_q);
    // Every midnight after four weeks of warm-up.
    let origins: Vec<usize> = (28 * 48..s.len()).step_by(48).collect();
    let band = rolling_band(&s, &cfg, &origins).unwrap();
    let mut w = DeviationWatcher::new(band, cal, WatchConfig::default()).unwrap();
    let alerts: Vec<_> = (origins[0]..s.len())
        .filter_map(|i| w.observe(s.time_at(i), s.values()[i]))
        .collect();
    let windows: Vec<_> = common::windows()
        .into_iter()
        .filter(|(_, e)| *e >= s.time_at(origins[0]))
        .collect();
    let score = score_windows(&alerts, &windows);
    eprintln!("watch on nyc_taxi: {score:?}");
    assert_eq!(score.windows, 5);
    // Achieved: 4 of 5 windows, precision 0.333 (13 of 39 alerts; 0.314, 11
    // of 35, before the ensemble learned its weight). Before
    // the holiday windows (us: Christmas spans Dec 18..31) the Christmas
    // window was caught on Dec 23 or 27, its only days that are neither the
    // eve, the holiday nor the day after (where the watcher is quiet by
    // design); now the band there is the holiday model's and nothing leaves
    // it for six steps. Day-ahead bands are also left for hours on ordinary
    // days, hence the modest precision floor.
    assert!(
        score.detected >= 4,
        "labelled windows detected: {}",
        score.detected
    );
    assert!(score.precision >= 0.3, "precision {}", score.precision);
}

#[test]
fn nyc_taxi_forecast_is_byte_for_byte_deterministic() {
    let s = common::nyc_taxi();
    let cfg = ForecastConfig::new(48).with_calendar(common::us_calendar());
    let a = serde_json::to_string(&crest_forecast::forecast(&s, &cfg).unwrap().forecast).unwrap();
    let b = serde_json::to_string(&crest_forecast::forecast(&s, &cfg).unwrap().forecast).unwrap();
    assert_eq!(a, b);
}

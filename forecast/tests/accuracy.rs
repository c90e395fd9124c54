//! Day-ahead accuracy on NYC taxi (the target): origins at midnight
//! over the last 90 days, horizon 48 half-hours, US calendar, WAPE outside
//! NAB's labelled anomaly windows.

mod common;

use crest_forecast::ForecastConfig;
use crest_forecast::backtest::{BacktestReport, backtest_series, midnight_origins};

#[test]
fn nyc_taxi_day_ahead_wape() {
    let Some(s) = common::nyc_taxi() else {
        eprintln!("skipping: {} not found", common::NYC_TAXI);
        return;
    };
    let cfg = ForecastConfig::new(48).with_calendar(common::us_calendar());
    let origins = midnight_origins(&s, 48, 90);
    assert_eq!(origins.len(), 90);
    let w = common::windows();
    let r = backtest_series(&s, &cfg, &origins, &|t| common::in_windows(&w, t), &|| {}).unwrap();
    let report = BacktestReport::new(48, &[r]);
    for (m, x) in &report.overall {
        eprintln!(
            "{m:>15}: WAPE {:.4} sMAPE {:.4} MASE {:.3} cov {:?} interval {:.3}",
            x.wape, x.smape, x.mase, x.coverage, x.interval_coverage
        );
    }
    eprintln!("chosen {:?}", report.chosen);
    let naive = report.overall["seasonal_naive"].wape;
    assert!((naive - 0.100).abs() < 0.01, "seasonal naive WAPE {naive}");
    let auto = report.overall["auto"].wape;
    assert!(auto <= 0.08, "auto WAPE {auto}");
}

//! Development harness: time one forecast of the full Area1 series per model.
#![allow(clippy::unwrap_used, missing_docs)]
#![allow(clippy::disallowed_methods)] // a development harness measures wall time

use crest_forecast::{ForecastConfig, ModelChoice, ModelKind};
use std::time::Instant;
fn main() {
    let s = crest_datasets::bundled("china_load_area1")
        .unwrap()
        .series
        .remove(0);
    let cal = crest_datasets::calendar::resolve_calendar("cn").unwrap();
    for k in [
        ModelKind::SeasonalNaive,
        ModelKind::MstlEts,
        ModelKind::Regression,
    ] {
        let cfg = ForecastConfig::new(96)
            .with_calendar(cal.clone())
            .with_model(ModelChoice::Fixed(k));
        let t = Instant::now();
        let _ = crest_forecast::forecast(&s, &cfg).unwrap();
        println!("{:?}: {:.2}s", k, t.elapsed().as_secs_f64());
    }
    let cfg = ForecastConfig::new(96).with_calendar(cal.clone());
    let t = Instant::now();
    let o = crest_forecast::forecast(&s, &cfg).unwrap();
    println!(
        "auto ({}): {:.2}s",
        o.model.name(),
        t.elapsed().as_secs_f64()
    );
}

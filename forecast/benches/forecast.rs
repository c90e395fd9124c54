//! `cargo bench -p crest-forecast`: fit + forecast time (including the
//! calibration backtest that sets the quantiles) per series and for the
//! issue's workload, 400 hourly series of ~900 points at horizon 48, on one
//! thread, with the seasonal-naive baseline timed in the same run.
//!
//! Synthetic series are seeded (daily + weekly shapes, a level drift, noise,
//! spikes, gaps, a holiday dip), so every run measures the same work.
#![allow(clippy::disallowed_methods)] // a benchmark measures wall time
#![allow(missing_docs, clippy::unwrap_used)]

use std::time::Instant;

use chrono::NaiveDate;
use crest_core::{Calendar, DayKind, Series, Timestamp};
use crest_forecast::{ForecastConfig, ModelChoice, ModelKind, forecast};

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.next().max(1e-12), self.next());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// An hourly series like a service's request count.
fn synthetic(id: usize, n: usize) -> Series {
    let mut r = SplitMix(0xC0FFEE ^ (id as u64).wrapping_mul(0x1234_5678_9ABC));
    let base = 200.0 + 5000.0 * r.next();
    let amp = 0.3 + 0.5 * r.next();
    let weekend = 0.5 + 0.4 * r.next();
    let drift = (r.next() - 0.5) * 0.4;
    let noise = 0.03 + 0.08 * r.next();
    let start = Timestamp::from_secs(1_700_006_400); // 2023-11-15 00:00Z, a Wednesday
    let mut level = 0.0;
    let values = (0..n)
        .map(|i| {
            let hour = i % 24;
            let day = i / 24;
            let dow = (day + 2) % 7;
            let daily = 1.0
                + amp * ((hour as f64 - 8.0) / 24.0 * std::f64::consts::TAU).sin()
                + 0.3 * amp * ((hour as f64 - 17.0) / 12.0 * std::f64::consts::TAU).cos();
            let week = if dow >= 5 { weekend } else { 1.0 };
            let holiday = if day == 22 { 0.6 } else { 1.0 }; // Thanksgiving-like
            level += 0.01 * r.normal();
            let trend = 1.0 + drift * i as f64 / n as f64;
            let mut v = base
                * daily.max(0.05)
                * week
                * holiday
                * trend
                * (level + noise * r.normal()).exp();
            if r.next() < 0.003 {
                v *= 3.0; // spike
            }
            if r.next() < 0.005 {
                v = f64::NAN; // gap
            }
            v
        })
        .collect();
    Series::try_new(format!("s{id:03}"), start, 3600, values).unwrap()
}

fn calendar() -> Calendar {
    let mut c = Calendar::new("bench");
    c.insert(
        NaiveDate::from_ymd_opt(2023, 12, 7).unwrap(),
        DayKind::Holiday { name: "h".into() },
    );
    c
}

fn time_models(series: &[Series], horizon: usize, label: &str) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let choices = [
        ModelChoice::Fixed(ModelKind::SeasonalNaive),
        ModelChoice::Fixed(ModelKind::MstlEts),
        ModelChoice::Fixed(ModelKind::Regression),
        ModelChoice::Fixed(ModelKind::Ensemble),
        ModelChoice::Auto,
    ];
    for choice in choices {
        let cfg = ForecastConfig::new(horizon)
            .with_calendar(calendar())
            .with_model(choice);
        let t = Instant::now();
        let mut checksum = 0.0;
        for s in series {
            let f = forecast(s, &cfg).unwrap();
            checksum += f.forecast.mean.iter().sum::<f64>();
        }
        let secs = t.elapsed().as_secs_f64();
        let name = match choice {
            ModelChoice::Auto => "auto".to_string(),
            ModelChoice::Fixed(k) => k.name().to_string(),
        };
        println!(
            "{label}: {name:<15} {:>8.3} s total, {:>8.3} ms per series (checksum {checksum:.0})",
            secs,
            1e3 * secs / series.len() as f64
        );
        out.push((name, secs));
    }
    out
}

fn main() {
    // One thread: the target is per core.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| {
        let series: Vec<Series> = (0..400).map(|i| synthetic(i, 900)).collect();
        println!("400 synthetic hourly series x 900 points, horizon 48, one thread (fit + calibration backtest + forecast):");
        let t = time_models(&series, 48, "400x900");
        let naive = t.iter().find(|(n, _)| n == "seasonal_naive").map_or(f64::NAN, |x| x.1);
        for (n, s) in &t {
            println!("  {n:<15} {:>6.1}x the seasonal-naive time", s / naive);
        }
        let long = synthetic(999, 10_000);
        let cfg = ForecastConfig::new(48).with_calendar(calendar());
        let t0 = Instant::now();
        let f = forecast(&long, &cfg).unwrap();
        println!(
            "one 10000-point hourly series, auto ({}): {:.1} ms",
            f.model.name(),
            1e3 * t0.elapsed().as_secs_f64()
        );
        let taxi = crest_datasets::bundled("nyc_taxi").unwrap().series.remove(0);
        let us = crest_datasets::calendar::resolve_calendar("us").unwrap();
        let t0 = Instant::now();
        let f = forecast(&taxi, &ForecastConfig::new(48).with_calendar(us)).unwrap();
        println!(
            "NYC taxi ({} points, half-hourly, us), auto ({}): {:.1} ms",
            taxi.len(),
            f.model.name(),
            1e3 * t0.elapsed().as_secs_f64()
        );
        // The long-series target: a 5-year 15-min series in <= 2 s.
        let area = crest_datasets::bundled("china_load_area1").unwrap().series.remove(0);
        let cn = crest_datasets::calendar::resolve_calendar("cn").unwrap();
        for (label, choice) in [
            ("seasonal_naive", ModelChoice::Fixed(ModelKind::SeasonalNaive)),
            ("auto", ModelChoice::Auto),
        ] {
            let cfg = ForecastConfig::new(96).with_calendar(cn.clone()).with_model(choice);
            let t0 = Instant::now();
            let f = forecast(&area, &cfg).unwrap();
            println!(
                "Area1 load ({} points, 15-min, cn, holiday analogs), {label} ({}): {:.1} ms",
                area.len(),
                f.model.name(),
                1e3 * t0.elapsed().as_secs_f64()
            );
        }
    });
}

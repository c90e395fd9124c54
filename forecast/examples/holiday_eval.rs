//! Development harness: day-ahead WAPE around Spring Festivals on Area1 vs daily naive.
#![allow(clippy::unwrap_used, missing_docs)]
#![allow(clippy::disallowed_methods)] // a development harness measures wall time

use chrono::Datelike;
use crest_forecast::ForecastConfig;
use std::time::Instant;

fn main() {
    let s = crest_datasets::bundled("china_load_area1")
        .unwrap()
        .series
        .remove(0);
    let cal = crest_datasets::calendar::resolve_calendar("cn").unwrap();
    let years: Vec<i32> = std::env::args()
        .nth(1)
        .map(|a| a.split(',').map(|y| y.parse().unwrap()).collect())
        .unwrap_or(vec![2010, 2011, 2012, 2013, 2014]);
    let name = std::env::args().nth(2).unwrap_or("Spring Festival".into());
    let h = 96;
    let periods: Vec<_> = cal
        .holiday_periods()
        .into_iter()
        .filter(|p| p.name == name && years.contains(&p.first.year()))
        .collect();
    let (mut te, mut ty, mut tn) = (0.0, 0.0, 0.0);
    for p in periods {
        let day0 = s
            .index_of(crest_core::Timestamp::from_naive_utc(
                &p.first.and_hms_opt(0, 0, 0).unwrap(),
            ))
            .unwrap();
        let (mut e, mut y, mut ne) = (0.0, 0.0, 0.0);
        let t0 = Instant::now();
        let mut line = String::new();
        for d in -10i64..=16 {
            let o = (day0 as i64 + d * 96) as usize;
            let hist = s.slice(0, o);
            let mut cfg = ForecastConfig::new(h).with_calendar(cal.clone());
            if std::env::var("FAST").is_ok() {
                cfg = cfg.with_model(crest_forecast::ModelChoice::Fixed(
                    crest_forecast::ModelKind::SeasonalNaive,
                ));
            }
            let out = crest_forecast::forecast(&hist, &cfg).unwrap();
            let (mut de, mut dy, mut dn) = (0.0, 0.0, 0.0);
            for k in 0..h {
                let act = s.values()[o + k];
                de += (act - out.forecast.mean[k]).abs();
                dn += (act - s.values()[o + k - 96]).abs();
                dy += act.abs();
            }
            line.push_str(&format!(
                "{d}:{:.0}/{:.0}({}) ",
                100.0 * de / dy,
                100.0 * dn / dy,
                &out.model.name()[..3]
            ));
            e += de;
            y += dy;
            ne += dn;
        }
        println!(
            "{} {}: crest {:.2}% naive {:.2}% ({:.1}s)\n   {}",
            p.name,
            p.first.year(),
            100.0 * e / y,
            100.0 * ne / y,
            t0.elapsed().as_secs_f64(),
            line
        );
        te += e;
        ty += y;
        tn += ne;
    }
    println!(
        "ALL: crest {:.2}% naive {:.2}%",
        100.0 * te / ty,
        100.0 * tn / ty
    );
}

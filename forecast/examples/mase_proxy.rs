//! Development harness: an M4-hourly-like proxy. Long hourly series (bike
//! sharing, NYC taxi, NAB Twitter volumes resampled to hourly) cut into
//! windows of 900 points; each window's last 48 are forecast from the rest.
//! M4-style sMAPE and MASE (scale: in-sample seasonal naive, m = 24).
#![allow(clippy::unwrap_used, missing_docs)]

use crest_forecast::ForecastConfig;
use std::collections::BTreeMap;

fn main() {
    let root = std::env::args()
        .nth(1)
        .unwrap_or("../shared/datasets/nab".into());
    let mut long = Vec::new();
    let bike = crest_datasets::bundled("bike_sharing")
        .unwrap()
        .series
        .remove(0);
    long.push(("bike".to_string(), bike));
    let taxi = crest_datasets::bundled("nyc_taxi")
        .unwrap()
        .series
        .remove(0);
    long.push((
        "taxi".into(),
        crest_datasets::resample(&taxi, 3600, crest_datasets::Agg::Sum).unwrap(),
    ));
    let mut files: Vec<_> = std::fs::read_dir(format!("{root}/realTweets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        let d = crest_datasets::load_path(&f).unwrap();
        let s = &d.series[0];
        let k = (3600 / s.step_s()) as usize;
        let vals: Vec<f64> = s.values().chunks_exact(k).map(|c| c.iter().sum()).collect();
        let h = crest_core::Series::try_new("", s.start(), 3600, vals).unwrap();
        long.push((f.file_stem().unwrap().to_string_lossy().to_string(), h));
    }
    let area = crest_datasets::bundled("china_load_area1")
        .unwrap()
        .series
        .remove(0);
    let area_h: Vec<f64> = area
        .values()
        .chunks_exact(4)
        .map(|c| c.iter().sum::<f64>() / 4.0)
        .collect();
    long.push((
        "area1".into(),
        crest_core::Series::try_new("", area.start(), 3600, area_h).unwrap(),
    ));
    let h = 48;
    let win = 900;
    let mut jobs = Vec::new();
    for (name, s) in &long {
        let mut end = s.len();
        while end >= win {
            let w = s.slice(end - win, end);
            if w.values().iter().filter(|v| !v.is_finite()).count() == 0 {
                jobs.push((name.clone(), w));
            }
            end -= if name == "area1" { 1500 } else { 600 };
        }
    }
    // With PROXY_DUMP=DIR: the windows (history) and crest's forecasts as
    // CSV, for scoring other forecasters on exactly the same points.
    let dump = std::env::var("PROXY_DUMP").ok();
    let mut hist_csv = String::from("unique_id,ds,y\n");
    let mut fc_csv = String::from("unique_id,step,actual,crest,snaive24,scale\n");
    let mut tot: BTreeMap<String, (f64, f64, usize)> = BTreeMap::new();
    let (mut worse, mut n) = (0, 0);
    let mut per: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for (wi, (name, w)) in jobs.iter().enumerate() {
        let o = w.len() - h;
        let hist = w.slice(0, o);
        let v = hist.values();
        let scale =
            (24..v.len()).map(|i| (v[i] - v[i - 24]).abs()).sum::<f64>() / (v.len() - 24) as f64;
        let act = &w.values()[o..];
        let mut score = |label: &str, pred: &[f64]| -> f64 {
            let (mut sm, mut ms) = (0.0, 0.0);
            for (y, p) in act.iter().zip(pred) {
                let den = y.abs() + p.abs();
                if den > 0.0 {
                    sm += 2.0 * (y - p).abs() / den;
                }
                ms += (y - p).abs() / scale;
            }
            let e = tot.entry(label.to_string()).or_default();
            e.0 += sm / h as f64;
            e.1 += ms / h as f64;
            e.2 += 1;
            ms / h as f64
        };
        let snaive: Vec<f64> = (0..h).map(|i| v[o - 24 * (i / 24 + 1) + i % 24]).collect();
        let n24 = score("snaive24", &snaive);
        let all = crest_forecast::forecast_models(&hist, &ForecastConfig::new(h)).unwrap();
        let mut auto = 0.0;
        for out in &all.outcomes {
            score(out.model.name(), &out.forecast.mean);
            if out.model == all.chosen {
                auto = score("auto", &out.forecast.mean);
            }
        }
        if dump.is_some() {
            let id = format!("{name}#{wi}");
            for (i, y) in hist.values().iter().enumerate() {
                hist_csv.push_str(&format!("{id},{i},{y}\n"));
            }
            let chosen = all.outcomes.iter().find(|x| x.model == all.chosen).unwrap();
            for k in 0..h {
                fc_csv.push_str(&format!(
                    "{id},{k},{},{},{},{scale}\n",
                    act[k], chosen.forecast.mean[k], snaive[k]
                ));
            }
        }
        let e = per.entry(name.clone()).or_default();
        e.0 += auto;
        e.1 += n24;
        n += 1;
        if auto > n24 {
            worse += 1;
        }
    }
    for (k, (sm, ms, c)) in &tot {
        println!(
            "{k:>16}: sMAPE {:.2} MASE {:.3} (n={c})",
            100.0 * sm / *c as f64,
            ms / *c as f64
        );
    }
    for (k, (a, b)) in &per {
        println!("  {k}: auto {a:.2} snaive24 {b:.2}");
    }
    println!("auto worse than snaive24 on {worse}/{n}");
    if let Some(d) = dump {
        std::fs::write(format!("{d}/proxy_hist.csv"), hist_csv).unwrap();
        std::fs::write(format!("{d}/proxy_fc.csv"), fc_csv).unwrap();
    }
}

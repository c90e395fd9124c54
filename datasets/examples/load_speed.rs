//! How long loading the bundled NYC taxi data takes (parse, validate, regularize).
//!
//! `cargo run --release -p crest-datasets --example load_speed`

#![allow(clippy::disallowed_methods)] // a benchmark measures wall time on purpose

use std::time::Instant;

fn main() -> Result<(), crest_datasets::DatasetError> {
    let runs = 50;
    let mut best = f64::INFINITY;
    let mut total = 0.0;
    for _ in 0..runs {
        let t0 = Instant::now();
        let d = crest_datasets::bundled("nyc_taxi")?;
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        assert_eq!(d.series[0].len(), 10_320);
        best = best.min(ms);
        total += ms;
    }
    println!(
        "nyc_taxi: 10,320 rows loaded {runs} times: mean {:.2} ms, best {best:.2} ms",
        total / f64::from(runs)
    );
    Ok(())
}

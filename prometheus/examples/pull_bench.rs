//! Pull speed: `cargo run -p crest-prometheus --example pull_bench -- URL QUERY START END STEP`
//! (Unix seconds); prints series, samples, seconds and samples/s.

use std::time::Instant;

use crest_prometheus::{Client, ClientConfig, RangeRequest, block_on, pull};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let [url, query, start, end, step] = a.as_slice() else {
        return Err("usage: pull_bench URL QUERY START END STEP (Unix seconds)".into());
    };
    let client = Client::new(&ClientConfig::new(url.clone()))?;
    let req = RangeRequest {
        query: query.clone(),
        start_s: start.parse()?,
        end_s: end.parse()?,
        step_s: step.parse()?,
    };
    #[allow(clippy::disallowed_methods)] // a benchmark measures the wall clock
    let t0 = Instant::now();
    let got = block_on(pull(&client, &req, &|_| {}))?;
    let secs = t0.elapsed().as_secs_f64();
    let samples: usize = got.iter().map(|s| s.points.len()).sum();
    println!(
        "series {} samples {samples} chunks {} seconds {secs:.2} samples/s {:.0}",
        got.len(),
        req.chunks(crest_prometheus::MAX_POINTS_PER_SERIES).len(),
        samples as f64 / secs
    );
    Ok(())
}

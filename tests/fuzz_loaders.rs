//! Fuzzing on stable (issue 16): a proptest harness feeding arbitrary and
//! mutated inputs to every loader that reads user or network bytes — the
//! webhook payload parser (Alertmanager and Grafana), the CSV loader, the
//! TOML loaders (sim scenario, server config, holiday calendar) and the plan
//! document loader (with its validation and work estimate). Each must return
//! `Ok` or an error; a panic fails the run.
//!
//! Inputs: random bytes, real documents (fixtures, examples, a plan crest
//! wrote) with a random slice replaced, bytes inserted or deleted, or one
//! number swapped for an absurd one (1e308, 2^61, -2^63, NaN, ...).
//!
//! `cargo test --test fuzz_loaders` runs a short round (2,000 cases per
//! target); `scripts/fuzz.sh` runs millions (`CREST_FUZZ_CASES` per target).

#![allow(clippy::unwrap_used)] // a panic is the failure report

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const AM: &str = include_str!("../server/tests/fixtures/alertmanager-v4-webhook.json");
const AM_RESOLVED: &str =
    include_str!("../server/tests/fixtures/alertmanager-payload-resolved.json");
const GRAFANA: &str = include_str!("../server/tests/fixtures/grafana-webhook.json");
const MMC: &str = include_str!("../examples/mmc.toml");
const CREST: &str = include_str!("../examples/holiday-crest.toml");
const CSV: &str = "timestamp,value\n2014-11-27 00:00:00,1\n2014-11-27 01:00:00,2.5\n\
                   2014-11-27 02:00:00,\n\"2014-11-27 03:00:00\",4\n2014-11-27 04:00:00,NaN\n";
const LONG_CSV: &str = "timestamp,series_id,value\n1417046400,a,1\n1417050000,a,2\n\
                        1417046400,b,3\n1417050000,b,4\n";
const CALENDAR: &str = "name = \"shop\"\n[[holiday]]\nname = \"Black Friday\"\n\
                        date = \"2014-11-28\"\nbefore_days = 2\nafter_days = 1\n";
const SERVER: &str = r#"
[server]
listen = "127.0.0.1:0"
db_path = "state.db"
token = "fuzz-token-0123456789abcdef"

[apps.flight-search]
min_replicas = 2
max_replicas = 40
"#;

fn cases() -> u32 {
    std::env::var("CREST_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000)
}

/// Absurd numbers, as text.
fn absurd() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("1e308".to_string()),
        Just("-1e308".to_string()),
        Just("1e-300".to_string()),
        Just("2305843009213693952".to_string()),
        Just("9223372036854775807".to_string()),
        Just("-9223372036854775808".to_string()),
        Just("18446744073709551615".to_string()),
        Just("4294967295".to_string()),
        Just("0".to_string()),
        Just("-0".to_string()),
        Just("NaN".to_string()),
        Just("inf".to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
    ]
}

/// A document mutated: a slice replaced, bytes inserted or removed, or a
/// number swapped for an absurd one; or bytes from nowhere.
fn mutated(seeds: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    let seed = prop::sample::select(seeds);
    prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..256),
        3 => (seed.clone(), any::<prop::sample::Index>(), any::<prop::sample::Index>(),
              prop::collection::vec(any::<u8>(), 0..16))
            .prop_map(|(s, a, b, junk)| {
                let bytes = s.as_bytes();
                let i = a.index(bytes.len() + 1);
                let j = (i + b.index(17)).min(bytes.len());
                let mut out = bytes[..i].to_vec();
                out.extend_from_slice(&junk);
                out.extend_from_slice(&bytes[j..]);
                out
            }),
        3 => (seed, any::<prop::sample::Index>(), absurd()).prop_map(|(s, at, n)| {
            // Replace the number at or after a random place.
            let b = s.as_bytes();
            let start = at.index(b.len() + 1);
            let Some(k) = (start..b.len()).find(|&k| b[k].is_ascii_digit()) else {
                return b.to_vec();
            };
            let end = (k..b.len())
                .find(|&e| !(b[e].is_ascii_digit() || b"._eE+-".contains(&b[e])))
                .unwrap_or(b.len());
            let mut out = b[..k].to_vec();
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(&b[end..]);
            out
        }),
    ]
}

/// Run `check` on `cases()` inputs; panics inside it are caught by
/// proptest and fail the run with the input that caused them.
fn fuzz(name: &str, strategy: impl Strategy<Value = Vec<u8>>, check: impl Fn(&[u8])) {
    let n = cases();
    let mut runner = TestRunner::new(Config {
        cases: n,
        failure_persistence: None,
        ..Config::default()
    });
    #[allow(clippy::disallowed_methods)] // reports the harness's own speed
    let started = std::time::Instant::now();
    runner
        .run(&strategy, |bytes| {
            check(&bytes);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    eprintln!(
        "fuzz {name}: {n} cases, 0 panics, {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn webhook_payloads() {
    use crest_server::payload::{Source, parse};
    fuzz("webhook", mutated(&[AM, AM_RESOLVED, GRAFANA]), |b| {
        let _ = parse(Source::Alertmanager, b);
        let _ = parse(Source::Grafana, b);
    });
}

#[test]
fn csv_loader() {
    fuzz("csv", mutated(&[CSV, LONG_CSV]), |b| {
        if let Ok(ds) = crest_datasets::load_csv_str("fuzz.csv", &text(b)) {
            for s in &ds.series {
                let _ = crest_datasets::resample(s, 2 * s.step_s(), crest_datasets::Agg::Sum);
            }
        }
    });
}

#[test]
fn toml_loaders() {
    let dir = Path::new(".");
    fuzz("toml", mutated(&[MMC, CREST, CALENDAR, SERVER]), |b| {
        let t = text(b);
        if let Ok(f) = crest_sim::config::parse_scenario(&t, "fuzz.toml", dir, None) {
            for sc in f.variants() {
                let _ = sc.validate();
                let _ = sc.work();
            }
        }
        let _ = crest_server::ServerConfig::from_toml(&t, "fuzz.toml", dir, |_| None);
        let _ = crest_datasets::calendar::parse_toml("fuzz.toml", &t);
    });
}

#[test]
fn plan_documents() {
    // A document as `crest plan --output` writes it.
    static DOC: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    let doc: &'static str = DOC.get_or_init(|| Box::leak(plan_document().into_boxed_str()));
    let seeds: &'static [&'static str] = Box::leak(Box::new([doc]));
    fuzz("plan", mutated(seeds), |b| {
        if let Ok(d) = serde_json::from_slice::<crest_autoscaler::PlanDocument>(b)
            && d.validate().is_ok()
        {
            let _ = crest_autoscaler::verify::gate_work(&d.plan, &d.forecast, &d.model, &d.gate);
        }
        let _ = serde_json::from_slice::<crest_core::ScalingPlan>(b);
        let _ = serde_json::from_slice::<crest_core::Forecast>(b);
    });
}

fn plan_document() -> String {
    use crest_autoscaler::planner::PlannerConfig;
    use crest_core::{AppId, Capacity, Forecast, Timestamp};
    let mean: Vec<f64> = (0..8).map(|i| 100.0 + 50.0 * f64::from(i)).collect();
    let f = Forecast::try_new(
        "orders",
        Timestamp::from_secs(1_417_046_400),
        1800,
        mean,
        Default::default(),
    )
    .unwrap();
    let cap = Capacity::given(20.0, 200.0).unwrap();
    let cfg = PlannerConfig::new(AppId::try_new("app").unwrap(), "p");
    let outcome = crest_autoscaler::plan(&f, &cap, &cfg).unwrap();
    let model = crest_autoscaler::FluidModel::new(cap.clone());
    let doc = crest_autoscaler::PlanDocument::new(
        &outcome,
        f,
        cap,
        cfg,
        model,
        crest_autoscaler::GateConfig::default(),
    );
    serde_json::to_string(&doc).unwrap()
}

//! The Prometheus rules and the Grafana dashboard crest ships: the rules
//! pass `promtool check rules` and alert on the series `crest serve`
//! exports; the dashboard is valid JSON whose panels query forecast band vs
//! actual, planned vs ready replicas and decisions.

#![allow(clippy::unwrap_used)] // a panic is the failure report

use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn rules_pass_promtool_and_use_crest_series() {
    let rules = Path::new(ROOT).join("examples/prometheus/rules.yml");
    let text = std::fs::read_to_string(&rules).unwrap();
    for want in [
        "crest_forecast_requests_per_second{quantile=\"0.9\"}",
        "crest_planned_replicas",
        "alert: CrestDemandAboveForecast",
    ] {
        assert!(text.contains(want), "rules.yml lacks {want}");
    }
    let Some(promtool) = crest_prometheus::local::promtool_binary() else {
        crest_core::services::skip_or_fail(
            "rules_pass_promtool_and_use_crest_series",
            "promtool is not installed (CI installs prometheus)",
        );
        return;
    };
    let o = Command::new(promtool)
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("SUCCESS: 4 rules found"), "{out}");
}

#[test]
fn grafana_dashboard_is_json_with_the_panels_queries() {
    let path = Path::new(ROOT).join("examples/grafana/crest-dashboard.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let panels = v["panels"].as_array().unwrap();
    let exprs = |title: &str| -> Vec<String> {
        let p = panels
            .iter()
            .find(|p| p["title"].as_str().is_some_and(|t| t.starts_with(title)))
            .unwrap_or_else(|| panic!("no panel {title:?}"));
        p["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["expr"].as_str().unwrap().to_string())
            .collect()
    };
    let band = exprs("Demand: forecast band vs actual");
    for q in ["0.1", "0.5", "0.9"] {
        assert!(
            band.iter()
                .any(|e| e.contains("crest_forecast_requests_per_second")
                    && e.contains(&format!("quantile=\"{q}\""))),
            "{band:?}"
        );
    }
    assert!(
        band.iter().any(|e| e.contains("rate(http_requests_total")),
        "{band:?}"
    );
    let reps = exprs("Replicas: planned vs ready");
    assert!(
        reps.iter().any(|e| e.contains("crest_planned_replicas"))
            && reps.iter().any(|e| e.contains("up{")),
        "{reps:?}"
    );
    assert!(
        exprs("Decisions")
            .iter()
            .any(|e| e.contains("crest_decisions_total"))
    );
    assert_eq!(v["templating"]["list"][1]["name"], "app");
}

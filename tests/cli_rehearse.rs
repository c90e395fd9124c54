//! `crest rehearse` on the bundled NYC taxi data: the README's main job.
//!
//! The New Year's Eve 2014 crest is forecast from the data before it, planned,
//! and replayed in the simulator with three strategies on the actual demand.
//! The target must hold: crest has zero SLO-violation minutes, uses
//! at most 60 % of static peak's instance-hours, and has fewer violation
//! minutes than reactive scaling at equal or lower cost. crest's plan freezes
//! scale-in over the crest night (the default for the named New Year crest),
//! which holds capacity through the midnight dip before the surge. Output is
//! seeded and reproducible.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns: a panic is the failure report

use std::process::{Command, Output};

fn crest(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crest"))
        .args(args)
        .output()
        .unwrap()
}

fn strategy<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["strategies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no strategy {name} in {v}"))
}

#[test]
fn new_year_rehearsal_meets_the_target_and_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let plots = dir.path().join("img");
    let a = crest(&[
        "rehearse",
        "--format",
        "json",
        "--seed",
        "42",
        "--plot",
        plots.to_str().unwrap(),
    ]);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    let v: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    let (s, r, c) = (
        strategy(&v, "static-peak"),
        strategy(&v, "reactive"),
        strategy(&v, "crest"),
    );
    let f = |x: &serde_json::Value, k: &str| x[k].as_f64().unwrap();
    assert_eq!(f(c, "slo_violation_minutes"), 0.0, "{v}");
    assert!(
        f(c, "instance_hours") <= 0.6 * f(s, "instance_hours"),
        "{v}"
    );
    assert!(
        f(c, "slo_violation_minutes") < f(r, "slo_violation_minutes"),
        "{v}"
    );
    assert!(f(c, "cost") <= f(r, "cost"), "{v}");
    assert_eq!(v["target_met"], true);
    assert_eq!(v["engine"], "simulator");
    for png in ["rehearse-demand.png", "rehearse-fleet.png"] {
        let bytes = std::fs::read(plots.join(png)).unwrap();
        assert_eq!(&bytes[1..4], b"PNG", "{png}");
    }

    // Same seed, same bytes.
    let b = crest(&["rehearse", "--format", "json", "--seed", "42"]);
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn table_and_fluid_engine_and_bad_crest() {
    let o = crest(&["rehearse", "--engine", "fluid"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    for name in ["static-peak", "reactive", "crest", "fluid model"] {
        assert!(out.contains(name), "{out}");
    }
    let o = crest(&["rehearse", "--crest", "easter"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--crest \"easter\""),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

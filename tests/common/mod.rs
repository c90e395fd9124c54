//! Helpers shared by the `crest plan` and `crest run` CLI tests.

#![allow(dead_code, clippy::unwrap_used)] // each test binary uses a subset; a panic is the failure report

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crest_core::series::Quantile;
use crest_core::{Forecast, Timestamp};

/// Run the `crest` binary in `dir`.
pub fn crest(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crest"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// A forecast of `hours` at 30 min steps with a 4× crest in the middle (4 steps),
/// written to `dir/forecast.json`.
pub fn write_forecast(dir: &Path, hours: usize) -> PathBuf {
    let n = hours * 2;
    let mean: Vec<f64> = (0..n)
        .map(|i| {
            if (n / 2..n / 2 + 4).contains(&i) {
                800.0
            } else {
                200.0
            }
        })
        .collect();
    let mut q = BTreeMap::new();
    for (l, f) in [(0.1, 0.85), (0.5, 1.0), (0.9, 1.15), (0.975, 1.25)] {
        q.insert(
            Quantile::try_new(l).unwrap(),
            mean.iter().map(|m| m * f).collect(),
        );
    }
    let f =
        Forecast::try_new("orders", Timestamp::from_secs(1_417_046_400), 1800, mean, q).unwrap();
    let path = dir.join("forecast.json");
    std::fs::write(&path, serde_json::to_string(&f).unwrap()).unwrap();
    path
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stdout of a run that must have succeeded (its stderr in the failure).
pub fn ok_stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The first of `tools` (names on `PATH` or paths) that is not there.
pub fn missing_tool<'a>(tools: &[&'a str]) -> Option<&'a str> {
    tools.iter().copied().find(|t| {
        !Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Whether the tests run as root (containerd and CNI need it).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Read a JSON file the CLI wrote (a plan document, a report).
pub fn read_json<T: serde::de::DeserializeOwned>(path: impl AsRef<Path>) -> T {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

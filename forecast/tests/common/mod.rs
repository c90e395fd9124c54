//! Test data from crest-datasets: the bundled NYC taxi series, its labelled
//! anomaly windows and the US calendar.
#![allow(dead_code, missing_docs, clippy::unwrap_used)]

use crest_core::{Calendar, Series, Timestamp};

pub fn nyc_taxi() -> Series {
    crest_datasets::bundled("nyc_taxi")
        .unwrap()
        .series
        .remove(0)
}

pub fn us_calendar() -> Calendar {
    crest_datasets::calendar::resolve_calendar("us").unwrap()
}

pub fn windows() -> Vec<(Timestamp, Timestamp)> {
    crest_datasets::anomaly_windows("nyc_taxi")
}

pub fn in_windows(w: &[(Timestamp, Timestamp)], t: Timestamp) -> bool {
    w.iter().any(|(a, b)| t >= *a && t <= *b)
}

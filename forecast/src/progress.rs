//! A progress bar for long backtests, drawn on stderr only when stderr is a
//! terminal (never in pipes, files or JSON runs), so outputs stay
//! byte-for-byte reproducible.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `total` units; hidden unless `enabled` and stderr is a TTY.
#[derive(Debug, Clone)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar labelled `what`, counting backtest origins.
    pub fn new(total: u64, what: &str, enabled: bool) -> Progress {
        Self::counting(total, what, "origins", enabled)
    }

    /// A bar labelled `what`, counting `unit`s (e.g. "steps" of a Prometheus pull).
    pub fn counting(total: u64, what: &str, unit: &str, enabled: bool) -> Progress {
        let bar = if enabled && std::io::stderr().is_terminal() {
            let b = ProgressBar::new(total);
            let template = format!("{{msg}} [{{bar:40}}] {{pos}}/{{len}} {unit}, eta {{eta}}");
            if let Ok(style) = ProgressStyle::with_template(&template) {
                b.set_style(style.progress_chars("=> "));
            }
            b.set_message(what.to_string());
            b
        } else {
            ProgressBar::hidden()
        };
        Progress { bar }
    }

    /// One unit done (thread-safe).
    pub fn tick(&self) {
        self.bar.inc(1);
    }

    /// `n` units done (thread-safe).
    pub fn advance(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Remove the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

//! One module per subcommand. Each owns its clap arguments (`XCmd`) and a
//! `run(XCmd) -> anyhow::Result<ExitCode>`; shared helpers live here.

use std::process::ExitCode;

pub mod datasets;
pub mod forecast;
pub mod plan;
pub mod probe;
pub mod rehearse;
pub mod run;
pub mod scale;
pub mod serve;
pub mod sim;

/// A subcommand that is not built yet says so plainly and exits 2: no fake output.
pub fn not_built(what: &str, issue: u32) -> anyhow::Result<ExitCode> {
    eprintln!("crest {what}: not built yet (tracked in issue {issue}); nothing was done");
    Ok(ExitCode::from(2))
}

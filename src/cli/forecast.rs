//! `crest forecast` (not built yet).

use std::process::ExitCode;

use clap::Args;

/// Arguments of `crest forecast`.
#[derive(Debug, Args)]
pub struct ForecastCmd {
    /// Arguments (ignored until this command is built).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}

/// Run `crest forecast`.
pub fn run(_cmd: ForecastCmd) -> anyhow::Result<ExitCode> {
    super::not_built("forecast", 3)
}

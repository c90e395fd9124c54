//! `crest probe` (not built yet).

use std::process::ExitCode;

use clap::Args;

/// Arguments of `crest probe`.
#[derive(Debug, Args)]
pub struct ProbeCmd {
    /// Arguments (ignored until this command is built).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}

/// Run `crest probe`.
pub fn run(_cmd: ProbeCmd) -> anyhow::Result<ExitCode> {
    super::not_built("probe", 5)
}

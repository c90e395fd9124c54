//! `crest plan` (not built yet).

use std::process::ExitCode;

use clap::Args;

/// Arguments of `crest plan`.
#[derive(Debug, Args)]
pub struct PlanCmd {
    /// Arguments (ignored until this command is built).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}

/// Run `crest plan`.
pub fn run(_cmd: PlanCmd) -> anyhow::Result<ExitCode> {
    super::not_built("plan", 6)
}

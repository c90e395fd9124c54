//! `crest scale` (not built yet).

use std::process::ExitCode;

use clap::Args;

/// Arguments of `crest scale`.
#[derive(Debug, Args)]
pub struct ScaleCmd {
    /// Arguments (ignored until this command is built).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}

/// Run `crest scale`.
pub fn run(_cmd: ScaleCmd) -> anyhow::Result<ExitCode> {
    super::not_built("scale", 7)
}

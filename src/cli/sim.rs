//! `crest sim` (not built yet).

use std::process::ExitCode;

use clap::Args;

/// Arguments of `crest sim`.
#[derive(Debug, Args)]
pub struct SimCmd {
    /// Arguments (ignored until this command is built).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}

/// Run `crest sim`.
pub fn run(_cmd: SimCmd) -> anyhow::Result<ExitCode> {
    super::not_built("sim", 4)
}

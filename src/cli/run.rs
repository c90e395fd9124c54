//! `crest run` (not built yet).

use std::process::ExitCode;

use clap::Args;

/// Arguments of `crest run`.
#[derive(Debug, Args)]
pub struct RunCmd {
    /// Arguments (ignored until this command is built).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}

/// Run `crest run`.
pub fn run(_cmd: RunCmd) -> anyhow::Result<ExitCode> {
    super::not_built("run", 6)
}

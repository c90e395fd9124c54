//! `crest serve` (not built yet).

use std::process::ExitCode;

use clap::Args;

/// Arguments of `crest serve`.
#[derive(Debug, Args)]
pub struct ServeCmd {
    /// Arguments (ignored until this command is built).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}

/// Run `crest serve`.
pub fn run(_cmd: ServeCmd) -> anyhow::Result<ExitCode> {
    super::not_built("serve", 6)
}

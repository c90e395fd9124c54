//! `crest rehearse` (not built yet).

use std::process::ExitCode;

use clap::Args;

/// Arguments of `crest rehearse`.
#[derive(Debug, Args)]
pub struct RehearseCmd {
    /// Arguments (ignored until this command is built).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}

/// Run `crest rehearse`.
pub fn run(_cmd: RehearseCmd) -> anyhow::Result<ExitCode> {
    super::not_built("rehearse", 6)
}

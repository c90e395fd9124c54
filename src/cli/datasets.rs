//! `crest datasets` (not built yet).

use std::process::ExitCode;

use clap::Args;

/// Arguments of `crest datasets`.
#[derive(Debug, Args)]
pub struct DatasetsCmd {
    /// Arguments (ignored until this command is built).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}

/// Run `crest datasets`.
pub fn run(_cmd: DatasetsCmd) -> anyhow::Result<ExitCode> {
    super::not_built("datasets", 2)
}

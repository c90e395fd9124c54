//! One module per subcommand. Each owns its clap arguments (`XCmd`) and a
//! `run(XCmd) -> anyhow::Result<ExitCode>`; shared helpers live here.

pub mod args;
pub mod completions;
pub mod datasets;
pub mod forecast;
pub mod plan;
pub mod probe;
pub mod prom;
pub mod rehearse;
pub mod run;
pub mod scale;
pub mod serve;
pub mod sim;

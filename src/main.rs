//! # crest
//!
//! The command-line front of crest: parse arguments, load inputs, call into the
//! library crates, print tables for people and JSON for machines.
//!
//! Exit codes: 0 success, 1 a failure while working (bad input, a service
//! unreachable), 2 a usage error or a command that is not built yet.
//!
//! How the crates fit together (seams, data flow): `docs/ARCHITECTURE.md`.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod cli;

/// crest: forecast traffic crests, measure headroom, simulate and execute
/// scale-out plans.
#[derive(Debug, Parser)]
#[command(name = "crest", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Forecast order volume with holiday effects and quantiles; backtest; watch for deviations.
    Forecast(cli::forecast::ForecastCmd),
    /// Probe per-instance capacity by raising one server's load-balancer weight; compute headroom.
    Probe(cli::probe::ProbeCmd),
    /// Plan a holiday scale-out from a forecast, capacity and an SLO.
    Plan(cli::plan::PlanCmd),
    /// Run a what-if simulation scenario.
    Sim(cli::sim::SimCmd),
    /// Execute scheduled holiday plans at their times.
    Run(cli::run::RunCmd),
    /// Serve the alert webhooks and the plan/decision API.
    Serve(cli::serve::ServeCmd),
    /// List and summarise bundled and user datasets.
    Datasets(cli::datasets::DatasetsCmd),
    /// Rehearse a holiday crest: static peak vs reactive vs crest, in the simulator.
    Rehearse(cli::rehearse::RehearseCmd),
    /// Scale an app through the actuator (containerd, CNI, HAProxy, Mesos, dry-run).
    Scale(cli::scale::ScaleCmd),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(cli::completions::CompletionsCmd),
    /// Print the man page (roff) to standard output.
    Man(cli::completions::ManCmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Forecast(c) => cli::forecast::run(c),
        Command::Probe(c) => cli::probe::run(c),
        Command::Plan(c) => cli::plan::run(c),
        Command::Sim(c) => cli::sim::run(c),
        Command::Run(c) => cli::run::run(c),
        Command::Serve(c) => cli::serve::run(c),
        Command::Datasets(c) => cli::datasets::run(c),
        Command::Rehearse(c) => cli::rehearse::run(c),
        Command::Scale(c) => cli::scale::run(c),
        Command::Completions(c) => cli::completions::completions(c, Cli::command()),
        Command::Man(c) => cli::completions::man(c, Cli::command()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

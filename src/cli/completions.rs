//! `crest completions SHELL` and `crest man`: print a shell completion script
//! or the man page, both generated from the same clap definition as the parser.

use std::io::{ErrorKind, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use clap_complete::{Generator, Shell};

/// Print a shell completion script to standard output.
#[derive(Debug, Args)]
#[command(after_help = "Install, e.g.:\n  \
    crest completions bash > ~/.local/share/bash-completion/completions/crest\n  \
    crest completions zsh > \"${fpath[1]}/_crest\"\n  \
    crest completions fish > ~/.config/fish/completions/crest.fish")]
pub struct CompletionsCmd {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Print the man page, `crest(1)` in roff, to standard output; or write it
/// and one page per subcommand (`crest-scale.1`, ...) into a directory.
#[derive(Debug, Args)]
#[command(after_help = "Install, e.g.:\n  crest man --dir ~/.local/share/man/man1")]
pub struct ManCmd {
    /// Write crest.1 and a page per subcommand (crest-forecast.1, crest-forecast-backtest.1, ...)
    /// into this existing directory instead of printing crest.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Writes the completion script for `cmd.shell` of the command `cli`.
pub fn completions(cmd: CompletionsCmd, mut cli: clap::Command) -> anyhow::Result<ExitCode> {
    // What clap_complete::generate does, but a write error is returned
    // rather than a panic (`crest completions fish | head`).
    let name = cli.get_name().to_string();
    cli.set_bin_name(name);
    cli.build();
    let mut out = std::io::stdout().lock();
    quiet_on_closed_pipe(
        cmd.shell
            .try_generate(&cli, &mut out)
            .and_then(|()| out.flush()),
    )
}

/// Writes the man page of the command `cli`.
pub fn man(cmd: ManCmd, cli: clap::Command) -> anyhow::Result<ExitCode> {
    if let Some(dir) = cmd.dir {
        anyhow::ensure!(dir.is_dir(), "{} is not a directory", dir.display());
        clap_mangen::generate_to(cli, &dir)
            .with_context(|| format!("writing man pages into {}", dir.display()))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    quiet_on_closed_pipe(
        clap_mangen::Man::new(cli)
            .render(&mut out)
            .and_then(|()| out.flush()),
    )
}

/// `crest man | head` closes the pipe early: that is the reader's choice, not an error.
fn quiet_on_closed_pipe(r: std::io::Result<()>) -> anyhow::Result<ExitCode> {
    match r {
        Err(e) if e.kind() != ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

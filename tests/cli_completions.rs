//! `crest completions SHELL` and `crest man`: the built binary prints scripts
//! and a man page that cover the real subcommands, and rejects unknown shells.

mod common;

/// Runs `crest args` in the current directory: (exit code, stdout, stderr).
fn crest(args: &[&str]) -> (i32, String, String) {
    let out = common::crest(args, std::path::Path::new("."));
    (
        out.status.code().unwrap_or(-1),
        common::stdout(&out),
        common::stderr(&out),
    )
}

/// Every subcommand a user can type, as the completion scripts must offer them.
const SUBCOMMANDS: &[&str] = &[
    "forecast",
    "probe",
    "plan",
    "sim",
    "run",
    "serve",
    "datasets",
    "rehearse",
    "scale",
    "completions",
    "man",
];

#[test]
fn bash_completion_defines_the_function_and_offers_every_subcommand() {
    let (code, out, err) = crest(&["completions", "bash"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("_crest()"), "no completion function:\n{out}");
    assert!(out.contains("complete -F _crest"), "not registered:\n{out}");
    for sub in SUBCOMMANDS {
        assert!(out.contains(sub), "bash completion lacks {sub}");
    }
    // Nested: `crest forecast backtest` and the rehearse options.
    assert!(out.contains("backtest"), "no forecast backtest");
    assert!(out.contains("--freeze"), "no rehearse --freeze");
}

#[test]
fn zsh_and_fish_completions_name_crest_and_its_subcommands() {
    let (code, zsh, err) = crest(&["completions", "zsh"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        zsh.starts_with("#compdef crest"),
        "{}",
        &zsh[..zsh.len().min(200)]
    );
    let (code, fish, err) = crest(&["completions", "fish"]);
    assert_eq!(code, 0, "{err}");
    assert!(fish.contains("complete -c crest"), "no fish completions");
    for sub in SUBCOMMANDS {
        assert!(zsh.contains(sub), "zsh completion lacks {sub}");
        assert!(fish.contains(sub), "fish completion lacks {sub}");
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error_that_lists_the_shells() {
    let (code, out, err) = crest(&["completions", "tcsh"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.is_empty(), "{out}");
    for shell in ["bash", "zsh", "fish"] {
        assert!(err.contains(shell), "{err}");
    }
}

#[test]
fn man_page_is_roff_with_name_synopsis_and_subcommands() {
    let (code, out, err) = crest(&["man"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(".ie \\n(.g .ds Aq"),
        "not roff:\n{}",
        &out[..out.len().min(200)]
    );
    assert!(out.contains(".TH crest 1"), "no title header");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH SUBCOMMANDS", ".SH VERSION"] {
        assert!(out.contains(section), "man page lacks {section}");
    }
    assert!(out.contains(env!("CARGO_PKG_VERSION")), "no version");
    for sub in ["crest\\-rehearse", "crest\\-scale", "crest\\-completions"] {
        assert!(out.contains(sub), "man page lacks {sub}");
    }
}

#[test]
fn man_dir_writes_a_page_per_subcommand_and_refuses_a_missing_dir() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().to_str().expect("utf-8 temp path");
    let (code, out, err) = crest(&["man", "--dir", path]);
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty(), "{out}");
    for page in [
        "crest.1",
        "crest-rehearse.1",
        "crest-forecast-backtest.1",
        "crest-man.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page))
            .unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".SH NAME"), "{page} is no man page");
    }

    let missing = dir.path().join("nope");
    let (code, _, err) = crest(&["man", "--dir", missing.to_str().expect("utf-8")]);
    assert_eq!(code, 1);
    assert!(err.contains("is not a directory"), "{err}");
}

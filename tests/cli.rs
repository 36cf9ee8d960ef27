//! The command line as an administrator and an init system meet it: LSB exit
//! codes (0 ok, 1 generic, 2 bad arguments, 6 not configured), config checks
//! that name file and line, `--help`, and a clean exit on SIGTERM.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::*;

fn daemon(args: &[&str]) -> Output {
    let mut command = Command::new(DAEMON);
    command
        .args(args)
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .env_remove("NOTIFY_SOCKET");
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write_config(dir: &ScratchDir, name: &str, contents: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn check_config_accepts_a_good_file() {
    let dir = ScratchDir::new("cli-good");
    let out_dir = dir.path().join("out");
    let config = write_config(
        &dir,
        "good.toml",
        &format!(
            "[server]\nidle_exit_after = 30\n\n[[printer]]\nname = \"office\"\n\
             device_uri = \"file://{}\"\n",
            out_dir.display()
        ),
    );
    let output = daemon(&["--check-config", "--config", &config]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{}stderr:\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

#[test]
fn check_config_refuses_an_unknown_key_naming_file_and_line() {
    let dir = ScratchDir::new("cli-unknown");
    let config = write_config(
        &dir,
        "bad.toml",
        "# a comment\n[server]\nidle_exit_after = 30\nlisten_on = [\"127.0.0.1:631\"]\n",
    );
    let output = daemon(&["--check-config", "--config", &config]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(6), "stderr:\n{stderr}");
    assert!(
        stderr.contains(&format!("{config}:4")),
        "stderr does not name {config}:4:\n{stderr}"
    );
    assert!(
        stderr.contains("listen_on"),
        "stderr does not name the key:\n{stderr}"
    );
}

#[test]
fn check_config_refuses_a_bad_value_and_a_missing_file() {
    let dir = ScratchDir::new("cli-bad-value");
    let config = write_config(&dir, "bad.toml", "[server]\n\nidle_exit_after = \"soon\"\n");
    let output = daemon(&["--check-config", "--config", &config]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(6), "stderr:\n{stderr}");
    assert!(stderr.contains(&format!("{config}:3")), "{stderr}");

    let missing = dir.path().join("nope.toml");
    let output = daemon(&["--check-config", "--config", missing.to_str().unwrap()]);
    assert_ne!(
        output.status.code(),
        Some(0),
        "a missing config file passed the check"
    );
    assert!(
        text(&output.stderr).contains("nope.toml"),
        "stderr does not name the missing file:\n{}",
        text(&output.stderr)
    );
}

#[test]
fn check_config_accepts_the_old_intake_section_with_a_warning_and_refuses_both() {
    let dir = ScratchDir::new("cli-intake");
    let config = write_config(&dir, "old.toml", "[intake]\ndisabled = true\n");
    let output = daemon(&["--check-config", "--config", &config]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr:\n{stderr}");
    assert!(
        stderr.contains(&format!("{config}:1: [intake] is deprecated")),
        "no warning naming {config}:1:\n{stderr}"
    );
    assert!(stderr.contains("use [dropdir]"), "{stderr}");

    let config = write_config(
        &dir,
        "both.toml",
        "[dropdir]\ndisabled = true\n[intake]\ndisabled = true\n",
    );
    let output = daemon(&["--check-config", "--config", &config]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(6), "stderr:\n{stderr}");
    assert!(stderr.contains(&format!("{config}:3: ")), "{stderr}");
}

#[test]
fn an_unknown_flag_is_a_usage_error() {
    let output = daemon(&["--bogus-flag"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(
        stderr.contains("bogus-flag"),
        "stderr does not name the flag:\n{stderr}"
    );
}

#[test]
fn help_lists_the_exit_codes() {
    let output = daemon(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
    let help = text(&output.stdout);
    let lower = help.to_lowercase();
    let exit_section = lower
        .find("exit")
        .map(|at| &lower[at..])
        .unwrap_or_else(|| panic!("--help says nothing about exit codes:\n{help}"));
    let tokens: Vec<&str> = exit_section
        .split(|c: char| !c.is_ascii_alphanumeric())
        .collect();
    for code in ["0", "1", "2", "6"] {
        assert!(
            tokens.contains(&code),
            "--help does not list exit code {code}:\n{help}"
        );
    }
    for flag in ["--config", "--listen", "--spool-dir", "--check-config"] {
        assert!(
            help.contains(flag),
            "--help does not mention {flag}:\n{help}"
        );
    }
}

#[test]
fn sigterm_exits_zero() {
    let mut server = TestServer::start("cli-sigterm");
    assert_still_serving(&server, "start");
    let status = server
        .daemon
        .signal_and_wait(libc::SIGTERM, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no exit within 10 s of SIGTERM; log:\n{}", server.log()));
    assert_eq!(status.code(), Some(0), "log:\n{}", server.log());
}

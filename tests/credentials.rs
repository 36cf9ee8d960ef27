//! A printer's device URI from a systemd credential (`device_uri =
//! "credential:NAME"`, read from `$CREDENTIALS_DIRECTORY`): the real daemon
//! binary checks the configuration with the directory set as systemd sets
//! it, and refuses what a hostile or careless credential could be, naming
//! the file, the line and the credential but never the content.
//! `tests/nspawn/cases/13-credentials.sh` runs the same under systemd
//! (`LoadCredential=`, and `ImportCredential=` from 254).

mod common;

use std::process::{Command, Output};

use common::*;

const SECRET_MARK: &str = "hunter2-secret-dir";

fn check_config(config: &std::path::Path, credentials: Option<&std::path::Path>) -> Output {
    let mut command = Command::new(DAEMON);
    command
        .arg("--check-config")
        .arg("--config")
        .arg(config)
        .env_remove("CREDENTIALS_DIRECTORY");
    scrub_service_manager_env(&mut command);
    if let Some(dir) = credentials {
        command.env("CREDENTIALS_DIRECTORY", dir);
    }
    command.output().unwrap()
}

fn setup(label: &str) -> (ScratchDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = ScratchDir::new(label);
    let creds = dir.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    let config = dir.path().join("printspoold.toml");
    std::fs::write(
        &config,
        "[[printer]]\nname = \"office\"\n\ndevice_uri = \"credential:printspoold.office-uri\"\n",
    )
    .unwrap();
    (dir, creds, config)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_device_uri_from_a_credential_is_accepted() {
    let (_dir, creds, config) = setup("cred-ok");
    std::fs::write(
        creds.join("printspoold.office-uri"),
        format!("file:///var/tmp/{SECRET_MARK}\n"),
    )
    .unwrap();
    let output = check_config(&config, Some(&creds));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn without_credentials_the_error_names_file_line_and_credential() {
    let (_dir, _creds, config) = setup("cred-none");
    let output = check_config(&config, None);
    assert_eq!(output.status.code(), Some(6));
    let error = stderr(&output);
    assert!(error.contains("printspoold.toml:4:"), "{error}");
    assert!(error.contains("\"printspoold.office-uri\""), "{error}");
    assert!(error.contains("LoadCredential="), "{error}");
}

#[test]
fn a_bad_credential_is_refused_without_quoting_it() {
    let (_dir, creds, config) = setup("cred-bad");
    let path = creds.join("printspoold.office-uri");
    std::fs::write(&path, format!("smb://user:{SECRET_MARK}@host/queue\n")).unwrap();
    let output = check_config(&config, Some(&creds));
    assert_eq!(output.status.code(), Some(6));
    let error = stderr(&output);
    assert!(
        error.contains("does not hold a usable device URI"),
        "{error}"
    );
    assert!(!error.contains(SECRET_MARK), "the content leaked: {error}");
}

#[test]
fn a_symbolic_link_in_place_of_the_credential_is_not_followed() {
    let (dir, creds, config) = setup("cred-link");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::write(&elsewhere, format!("file:///var/tmp/{SECRET_MARK}\n")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, creds.join("printspoold.office-uri")).unwrap();
    let output = check_config(&config, Some(&creds));
    assert_eq!(output.status.code(), Some(6));
    let error = stderr(&output);
    assert!(error.contains("\"printspoold.office-uri\""), "{error}");
    assert!(!error.contains(SECRET_MARK), "{error}");
}

#[test]
fn an_oversized_credential_is_refused() {
    let (_dir, creds, config) = setup("cred-big");
    let huge = format!("file:///{}", "x".repeat(70 * 1024));
    std::fs::write(creds.join("printspoold.office-uri"), huge).unwrap();
    let output = check_config(&config, Some(&creds));
    assert_eq!(output.status.code(), Some(6));
    assert!(
        stderr(&output).contains("larger than 65536 bytes"),
        "{}",
        stderr(&output)
    );
}

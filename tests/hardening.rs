//! The sandbox of every shipped service, scored by systemd itself
//! (`systemd-analyze security --offline=true`, the shipped unit files as they
//! are). A score that rises above its target fails here; that each
//! activation path still works inside the sandbox is proven by the booted
//! container (tests/nspawn/) and the VM (tests/vm/), which run these units.
//!
//! daemon(7) new-style recommendation 6: leave privilege dropping and
//! resource limits to the service manager, so the unit file is where the
//! sandbox lives, and this test is where it is held.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// The exposure score `systemd-analyze security` gives a unit file (0.0 is
/// the most locked down, 10.0 the least).
fn exposure(unit: &str) -> f64 {
    require_program("systemd-analyze", "systemd");
    let path = Path::new(REPO).join("systemd").join(unit);
    let output = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&path)
        .env("SYSTEMD_COLORS", "0")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find(|line| line.contains("Overall exposure level for"))
        .unwrap_or_else(|| {
            panic!(
                "no score for {unit}:\n{text}{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    // "→ Overall exposure level for printspoold.service: 1.0 OK 🙂"
    let score = line
        .rsplit_once(": ")
        .and_then(|(_, tail)| tail.split_whitespace().next())
        .and_then(|number| number.parse().ok());
    score.unwrap_or_else(|| panic!("cannot read the score in {line:?}"))
}

fn unit_text(unit: &str) -> String {
    std::fs::read_to_string(Path::new(REPO).join("systemd").join(unit)).unwrap()
}

#[test]
fn cleanup_service_is_rated_safe() {
    let score = exposure("printspoold-cleanup.service");
    eprintln!("printspoold-cleanup.service exposure {score}");
    assert!(
        score < 1.0,
        "printspoold-cleanup.service exposure {score}, target below 1.0"
    );
}

#[test]
fn spooler_service_stays_below_its_target() {
    let score = exposure("printspoold.service");
    eprintln!("printspoold.service exposure {score}");
    assert!(
        score < 1.5,
        "printspoold.service exposure {score}, target below 1.5"
    );
}

/// Every .service we ship has a target: a new one without a line here fails.
#[test]
fn every_shipped_service_has_a_target() {
    let mut services: Vec<String> = std::fs::read_dir(Path::new(REPO).join("systemd"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".service"))
        .collect();
    services.sort();
    assert_eq!(
        services,
        ["printspoold-cleanup.service", "printspoold.service"],
        "a service was added or renamed: give it a score target in tests/hardening.rs"
    );
}

/// The spooler may open USB printer nodes and nothing else under /dev, and
/// runs as its own static user, never root.
#[test]
fn spooler_device_access_is_closed_but_for_usb_printers() {
    let unit = unit_text("printspoold.service");
    let lines: Vec<&str> = unit.lines().map(str::trim).collect();
    for wanted in [
        "DevicePolicy=closed",
        "DeviceAllow=char-usb rw",
        "PrivateNetwork=yes",
        "User=printspoold",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
    ] {
        assert!(
            lines.contains(&wanted),
            "printspoold.service lacks {wanted}"
        );
    }
    for unit in ["printspoold.service", "printspoold-cleanup.service"] {
        let text = unit_text(unit);
        assert!(
            !text.lines().any(|l| l.trim() == "User=root"),
            "{unit} runs as root"
        );
        assert!(
            text.contains("\nUser=printspoold\n"),
            "{unit} has no static user"
        );
    }
}

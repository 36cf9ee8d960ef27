//! `make install` as a packager meets it (daemon(7) "Installing systemd
//! Service Files"): it installs exactly the file list README.md documents,
//! into the directories pkg-config names (or the documented fallbacks),
//! honours `DESTDIR`, `PREFIX` and per-directory overrides, and `make
//! uninstall` takes back every file it put down.
//!
//! The directories are resolved here independently of the Makefile, from
//! pkg-config, so a Makefile that stopped asking pkg-config fails this test.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// The documented list: the lines of the fenced block that follows the
/// `<!-- install-list -->` marker in README.md, as (template, condition).
fn documented_list() -> Vec<(String, Option<String>)> {
    let readme = fs::read_to_string(Path::new(REPO).join("README.md")).unwrap();
    let after = readme
        .split_once("<!-- install-list -->")
        .expect("README.md has no <!-- install-list --> marker")
        .1;
    let block = after
        .trim_start()
        .strip_prefix("```text\n")
        .expect("the install list is not a ```text block")
        .split_once("```")
        .expect("the install list block is not closed")
        .0;
    block
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let mut words = line.split_whitespace();
            let path = words.next().unwrap().to_string();
            let rest: Vec<&str> = words.collect();
            let condition = (!rest.is_empty()).then(|| rest.join(" "));
            (path, condition)
        })
        .collect()
}

fn pkg_config(package: &str, variable: &str) -> Option<String> {
    let output = Command::new("pkg-config")
        .args(["--variable", variable, package])
        .output()
        .unwrap();
    let value = String::from_utf8(output.stdout).unwrap().trim().to_string();
    (output.status.success() && !value.is_empty()).then_some(value)
}

/// The variables of the documented list, resolved as README.md's table says:
/// pkg-config first, then the fallback; `overrides` win over both.
fn resolve_variables(prefix: &str, overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    let data = format!("{prefix}/share");
    let from_pkg =
        |package, variable, fallback: String| pkg_config(package, variable).unwrap_or(fallback);
    let mut vars = vec![
        ("BINDIR".to_string(), format!("{prefix}/bin")),
        ("DOCDIR".to_string(), format!("{data}/doc/printspoold")),
        ("MANDIR".to_string(), format!("{data}/man")),
        ("INITDDIR".to_string(), "/etc/init.d".to_string()),
        (
            "systemdsystemunitdir".to_string(),
            from_pkg(
                "systemd",
                "systemdsystemunitdir",
                format!("{prefix}/lib/systemd/system"),
            ),
        ),
        (
            "systemdsystemgeneratordir".to_string(),
            from_pkg(
                "systemd",
                "systemdsystemgeneratordir",
                format!("{prefix}/lib/systemd/system-generators"),
            ),
        ),
        (
            "sysusersdir".to_string(),
            from_pkg("systemd", "sysusersdir", format!("{prefix}/lib/sysusers.d")),
        ),
        (
            "tmpfilesdir".to_string(),
            from_pkg("systemd", "tmpfilesdir", format!("{prefix}/lib/tmpfiles.d")),
        ),
        (
            "udevrulesdir".to_string(),
            format!(
                "{}/rules.d",
                from_pkg("udev", "udevdir", format!("{prefix}/lib/udev"))
            ),
        ),
        (
            "dbussystemservicesdir".to_string(),
            from_pkg(
                "dbus-1",
                "system_bus_services_dir",
                format!("{data}/dbus-1/system-services"),
            ),
        ),
        (
            "dbussystemconfdir".to_string(),
            format!(
                "{}/dbus-1/system.d",
                from_pkg("dbus-1", "datadir", data.clone())
            ),
        ),
        (
            "dbusinterfacesdir".to_string(),
            from_pkg(
                "dbus-1",
                "interfaces_dir",
                format!("{data}/dbus-1/interfaces"),
            ),
        ),
    ];
    for (name, value) in overrides {
        let slot = vars.iter_mut().find(|(n, _)| n == name).unwrap();
        slot.1 = value.to_string();
    }
    vars
}

fn expected_files(with_sysv: bool, prefix: &str, overrides: &[(&str, &str)]) -> BTreeSet<String> {
    let vars = resolve_variables(prefix, overrides);
    documented_list()
        .into_iter()
        .filter(|(_, condition)| match condition.as_deref() {
            None => true,
            Some("only with INSTALL_SYSV=1") => with_sysv,
            Some(other) => panic!("README install list: unknown condition {other:?}"),
        })
        .map(|(template, _)| {
            let mut path = template;
            for (name, value) in &vars {
                path = path.replace(&format!("$({name})"), value);
            }
            assert!(!path.contains("$("), "unresolved variable in {path}");
            path
        })
        .collect()
}

fn installed_files(root: &Path) -> BTreeSet<String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeSet<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                out.insert(format!("/{}", path.strip_prefix(root).unwrap().display()));
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

fn make(target: &str, destdir: &Path, extra: &[&str]) {
    let output = Command::new("make")
        .args(["-s", "-C", REPO, target])
        .arg(format!("DESTDIR={}", destdir.display()))
        .arg(format!("BINARY={DAEMON}"))
        .args(extra)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "make {target} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn require_tools() {
    require_program("make", "make");
    require_program("pkg-config", "pkg-config");
}

#[test]
fn install_puts_down_exactly_the_documented_files() {
    require_tools();
    for with_sysv in [false, true] {
        let dir = ScratchDir::new("install-list");
        let extra: &[&str] = if with_sysv { &["INSTALL_SYSV=1"] } else { &[] };
        make("install", dir.path(), extra);
        assert_eq!(
            installed_files(dir.path()),
            expected_files(with_sysv, "/usr", &[]),
            "make install DESTDIR= (INSTALL_SYSV={with_sysv}) differs from README.md's list"
        );
    }
}

#[test]
fn prefix_and_directory_overrides_are_honoured_and_paths_rewritten() {
    require_tools();
    let dir = ScratchDir::new("install-prefix");
    let overrides = [("systemdsystemunitdir", "/srv/units")];
    make(
        "install",
        dir.path(),
        &["PREFIX=/opt/printspoold", "systemdsystemunitdir=/srv/units"],
    );
    assert_eq!(
        installed_files(dir.path()),
        expected_files(false, "/opt/printspoold", &overrides)
    );
    // The unit must start the binary where it was installed, not /usr/bin.
    let unit = fs::read_to_string(dir.path().join("srv/units/printspoold.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/opt/printspoold/bin/printspoold "),
        "ExecStart not rewritten for PREFIX:\n{unit}"
    );
    assert!(!unit.contains("/usr/bin/printspoold"), "{unit}");
}

#[test]
fn uninstall_removes_every_installed_file() {
    require_tools();
    let dir = ScratchDir::new("install-uninstall");
    make("install", dir.path(), &["INSTALL_SYSV=1"]);
    assert!(!installed_files(dir.path()).is_empty());
    make("uninstall", dir.path(), &["INSTALL_SYSV=1"]);
    let left: Vec<PathBuf> = installed_files(dir.path())
        .into_iter()
        .map(PathBuf::from)
        .collect();
    assert!(left.is_empty(), "left behind by make uninstall: {left:?}");
}

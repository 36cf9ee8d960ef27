//! No file in the repository names a package-archive host: the test
//! harnesses read the archive from the host's apt sources
//! (`tests/apt-sources.sh`), so a site with its own mirror needs no edit and
//! the repository carries no site's choice. This test reads the hosts this
//! machine's apt uses and fails if any tracked file contains one.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// One apt source: its type (`deb`, `deb-src`), URI and suite.
#[derive(Debug, PartialEq)]
struct AptSource {
    kind: String,
    uri: String,
    suite: String,
}

impl AptSource {
    fn new(kind: &str, uri: &str, suite: &str) -> AptSource {
        AptSource {
            kind: kind.to_string(),
            uri: uri.trim_end_matches('/').to_string(),
            suite: suite.to_string(),
        }
    }
}

/// The one-line format: `deb [options] URI SUITE [COMPONENT...]`.
fn parse_one_line(text: &str) -> Vec<AptSource> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let line = match (line.find('['), line.find(']')) {
            (Some(a), Some(b)) if a < b => format!("{}{}", &line[..a], &line[b + 1..]),
            _ => line.to_string(),
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [kind @ ("deb" | "deb-src"), uri, suite, ..] = words[..] {
            out.push(AptSource::new(kind, uri, suite));
        }
    }
    out
}

/// deb822: stanzas of `Field: value` lines (names case-insensitive, values
/// continued on indented lines), separated by blank lines.
fn parse_deb822(text: &str) -> Vec<AptSource> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n").flat_map(|s| s.split("\n\r\n")) {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in stanza.lines() {
            if line.trim_start().starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                if let Some((_, value)) = fields.last_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
            } else if let Some((name, value)) = line.split_once(':') {
                fields.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            }
        }
        let field = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n == name)
                .map_or("", |(_, v)| v.as_str())
        };
        if field("enabled").eq_ignore_ascii_case("no") {
            continue;
        }
        for kind in field("types").split_whitespace() {
            for uri in field("uris").split_whitespace() {
                for suite in field("suites").split_whitespace() {
                    out.push(AptSource::new(kind, uri, suite));
                }
            }
        }
    }
    out
}

/// Every source of the apt configuration under `etc`, in apt's order.
fn apt_sources(etc: &Path) -> Vec<AptSource> {
    let mut out = Vec::new();
    if let Ok(text) = fs::read_to_string(etc.join("sources.list")) {
        out.extend(parse_one_line(&text));
    }
    let mut parts: Vec<PathBuf> = fs::read_dir(etc.join("sources.list.d"))
        .map(|dir| dir.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    parts.sort();
    for path in parts {
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        match path.extension().and_then(|e| e.to_str()) {
            Some("list") => out.extend(parse_one_line(&text)),
            Some("sources") => out.extend(parse_deb822(&text)),
            _ => {}
        }
    }
    out
}

/// The host of `scheme://[user@]host[:port]/path`; `None` for `file:`,
/// `cdrom:` and the like.
fn uri_host(uri: &str) -> Option<String> {
    let rest = uri.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let host = authority.rsplit('@').next()?;
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => host.split(':').next()?,
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// The repository's tracked files (`git ls-files`), or every file outside
/// `.git` and `target` when this is not a git checkout.
fn tracked_files() -> Vec<PathBuf> {
    let listed = Command::new("git")
        .args(["-C", REPO, "ls-files", "-z"])
        .output()
        .ok()
        .filter(|o| o.status.success());
    match listed {
        Some(out) => out
            .stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| Path::new(REPO).join(String::from_utf8_lossy(p).as_ref()))
            .filter(|p| p.is_file())
            .collect(),
        None => {
            let mut files = Vec::new();
            walk(Path::new(REPO), &mut files);
            files
        }
    }
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == ".git" || name == "target" {
            continue;
        }
        if path.is_dir() {
            walk(&path, files);
        } else {
            files.push(path);
        }
    }
}

fn contains_ignore_case(haystack: &[u8], needle: &str) -> bool {
    let needle = needle.as_bytes();
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

#[test]
fn no_tracked_file_names_an_archive_host_of_this_machine() {
    let etc = Path::new("/etc/apt");
    if !etc.is_dir() {
        eprintln!("no /etc/apt: this host uses no apt archive to look for");
        return;
    }
    let mut hosts: Vec<String> = apt_sources(etc)
        .iter()
        .filter_map(|s| uri_host(&s.uri))
        .collect();
    hosts.sort();
    hosts.dedup();
    let has_source_files = etc.join("sources.list").is_file()
        || fs::read_dir(etc.join("sources.list.d")).is_ok_and(|d| {
            d.flatten().any(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.ends_with(".list") || name.ends_with(".sources")
            })
        });
    assert!(
        !has_source_files || !hosts.is_empty(),
        "/etc/apt has source files but no host was read from them: the parser is wrong"
    );
    let files = tracked_files();
    assert!(files.len() > 50, "only {} files found", files.len());
    let mut found = Vec::new();
    for file in &files {
        let bytes = fs::read(file).unwrap();
        for host in &hosts {
            if contains_ignore_case(&bytes, host) {
                let name = file
                    .strip_prefix(REPO)
                    .unwrap_or(file)
                    .display()
                    .to_string();
                // Say which of the host's archives, not its name: this
                // message must not put the name into a log or a note.
                let which = hosts.iter().position(|h| h == host).unwrap_or(0);
                found.push(format!(
                    "{name}: names archive host #{which} of this machine's apt"
                ));
            }
        }
    }
    eprintln!(
        "{} archive host(s) of this machine, {} file(s) checked",
        hosts.len(),
        files.len()
    );
    assert!(
        found.is_empty(),
        "read the archive from apt's sources instead (tests/apt-sources.sh):\n{}",
        found.join("\n")
    );
}

/// The harnesses' shell reader and this test's reader agree on this host's
/// Debian archive (the first `deb` source of a release suite).
#[test]
fn the_harness_reads_the_same_archive_as_this_test() {
    let is_debian =
        fs::read_to_string("/etc/os-release").is_ok_and(|t| t.lines().any(|l| l == "ID=debian"));
    if !is_debian {
        eprintln!("not a Debian host: the harness needs PRINTSPOOLD_TEST_MIRROR here");
        return;
    }
    let ours = apt_sources(Path::new("/etc/apt"))
        .into_iter()
        .find(|s| {
            s.kind == "deb"
                && !s.suite.is_empty()
                && s.suite.bytes().all(|b| b.is_ascii_lowercase())
        })
        .map(|s| s.uri)
        .expect("a Debian host with no deb source of a release suite");
    assert_eq!(harness_archive(&[], None), ours);
}

/// What `tests/apt-sources.sh ARGS` prints, reading apt's configuration
/// from `etc` (`PRINTSPOOLD_APT_ETC`) or from the host's.
fn harness_archive(args: &[&str], etc: Option<&Path>) -> String {
    let mut command = Command::new(Path::new(REPO).join("tests/apt-sources.sh"));
    command.args(args);
    if let Some(etc) = etc {
        command.env("PRINTSPOOLD_APT_ETC", etc);
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Both formats, with what apt ignores: comments, options, disabled
/// stanzas, continuation lines, other types.
#[test]
fn both_source_formats_are_read() {
    let one_line = parse_one_line(
        "# deb http://commented.example/debian sid main\n\
         deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian/ bookworm main # note\n\
         deb-src http://src.example/debian bookworm main\n\
         deb cdrom:[Debian 12]/ bookworm main\n",
    );
    assert_eq!(
        one_line,
        vec![
            AptSource::new("deb", "http://mirror.example/debian", "bookworm"),
            AptSource::new("deb-src", "http://src.example/debian", "bookworm"),
            AptSource::new("deb", "cdrom:/", "bookworm"),
        ]
    );
    let deb822 = parse_deb822(
        "Types: deb\nURIs: http://a.example/debian\nSuites: trixie trixie-updates\n\n\
         # a comment\ntypes: deb deb-src\nuris: http://b.example/debian\n http://user@c.example:3142/debian\n\
         suites: trixie-security\n\n\
         Types: deb\nURIs: http://off.example/debian\nSuites: sid\nEnabled: no\n",
    );
    let uris: Vec<(&str, &str, &str)> = deb822
        .iter()
        .map(|s| (s.kind.as_str(), s.uri.as_str(), s.suite.as_str()))
        .collect();
    assert_eq!(
        uris,
        vec![
            ("deb", "http://a.example/debian", "trixie"),
            ("deb", "http://a.example/debian", "trixie-updates"),
            ("deb", "http://b.example/debian", "trixie-security"),
            (
                "deb",
                "http://user@c.example:3142/debian",
                "trixie-security"
            ),
            ("deb-src", "http://b.example/debian", "trixie-security"),
            (
                "deb-src",
                "http://user@c.example:3142/debian",
                "trixie-security"
            ),
        ]
    );
    assert_eq!(
        uri_host("http://user@c.example:3142/debian").as_deref(),
        Some("c.example")
    );
    assert_eq!(uri_host("http://[::1]:80/debian").as_deref(), Some("::1"));
    assert_eq!(uri_host("file:///srv/mirror"), None);
    assert_eq!(uri_host("cdrom:/"), None);
}

/// The shell reader on the same kind of input: a site mirror in deb822 wins
/// over nothing else, a disabled stanza is skipped, `--security` finds the
/// security suite.
#[test]
fn the_shell_reader_follows_a_site_mirror() {
    let etc = std::env::temp_dir().join(format!("printspoold-apt-etc-{}", std::process::id()));
    fs::create_dir_all(etc.join("sources.list.d")).unwrap();
    fs::write(
        etc.join("sources.list.d/00-off.sources"),
        "Types: deb\nURIs: http://off.example/debian\nSuites: sid\nEnabled: no\n",
    )
    .unwrap();
    fs::write(
        etc.join("sources.list.d/site.sources"),
        "Types: deb\nURIs: http://mirror.site.example/debian/\nSuites: bookworm bookworm-updates\n\n\
         Types: deb\nURIs: http://mirror.site.example/debian-security\nSuites: bookworm-security\n",
    )
    .unwrap();
    let run = |args: &[&str]| harness_archive(args, Some(&etc));
    assert_eq!(run(&[]), "http://mirror.site.example/debian");
    assert_eq!(
        run(&["--security"]),
        "http://mirror.site.example/debian-security"
    );
    fs::remove_dir_all(&etc).unwrap();
}

fn repo_file(path: &str) -> String {
    fs::read_to_string(Path::new(REPO).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One licence, `MIT OR Apache-2.0`, said the same way by every file that
/// states it, with both texts in the tree.
#[test]
fn the_licence_is_mit_or_apache_2_everywhere() {
    for manifest in [
        "Cargo.toml",
        "benches/Cargo.toml",
        "fuzz/Cargo.toml",
        "crates/ipp-proto/Cargo.toml",
        "crates/ipp-proto/fuzz/Cargo.toml",
    ] {
        assert!(
            repo_file(manifest)
                .lines()
                .any(|l| l == r#"license = "MIT OR Apache-2.0""#),
            "{manifest} lacks license = \"MIT OR Apache-2.0\""
        );
    }
    let spec = repo_file("packaging/printspoold.spec");
    assert!(
        spec.lines()
            .any(|l| l == "License:        MIT OR Apache-2.0")
    );
    assert!(spec.contains("%license LICENSE-MIT LICENSE-APACHE"));

    // DEP-5: the Files: * paragraph names both, and each has a stand-alone
    // License: paragraph.
    let copyright = repo_file("packaging/debian/copyright");
    let paragraphs: Vec<&str> = copyright.split("\n\n").collect();
    let files_all = paragraphs
        .iter()
        .find(|p| p.starts_with("Files: *\n"))
        .expect("no Files: * paragraph");
    assert!(files_all.contains("\nLicense: MIT or Apache-2.0"));
    for name in ["MIT", "Apache-2.0"] {
        assert!(
            paragraphs
                .iter()
                .any(|p| p.starts_with(&format!("License: {name}\n"))),
            "debian/copyright has no stand-alone License: {name} paragraph"
        );
    }
    assert!(!copyright.contains("LicenseRef"));

    let mit = repo_file("LICENSE-MIT");
    assert!(mit.starts_with("MIT License\n\nCopyright (c) "));
    assert!(mit.contains("Permission is hereby granted, free of charge"));
    let apache = repo_file("LICENSE-APACHE");
    assert!(
        apache.contains("Apache License\n                           Version 2.0, January 2004")
    );
    assert!(apache.contains("END OF TERMS AND CONDITIONS"));
    // Debian's copy is the standard text; ours must be the same words.
    if let Ok(debian) = fs::read_to_string("/usr/share/common-licenses/Apache-2.0") {
        assert_eq!(squeeze(&apache), squeeze(&debian));
    }
}

fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A lintian override is allowed only with its reason: a comment directly
/// above it (tests/nspawn/run's lintian check fails on any warning left).
#[test]
fn every_lintian_override_says_why() {
    let text = repo_file("packaging/debian/printspoold.lintian-overrides");
    let lines: Vec<&str> = text.lines().collect();
    let mut overrides = 0;
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        overrides += 1;
        assert!(
            line.starts_with("printspoold: "),
            "not an override of the package: {line}"
        );
        assert!(
            i > 0 && lines[i - 1].starts_with("# "),
            "override without a reason on the line above: {line}"
        );
    }
    assert!(overrides > 0, "an empty overrides file: delete it instead");
}

/// `tests/under-load`, which the README names: it runs the test command the
/// number of times asked while stress-ng keeps every core busy, reports each
/// run, stops the load when it ends, and fails when a run fails. Run here
/// with the quick `fmt` stage (and without CI=true, which would make the
/// inner `tests/run` run every stage).
#[test]
fn under_load_runs_the_test_command_repeatedly_under_stress_and_stops_the_load() {
    let under_load = |args: &[&str]| {
        let out = Command::new(Path::new(REPO).join("tests/under-load"))
            .args(args)
            .env_remove("CI")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code(), text)
    };
    let load_pid = |text: &str| -> u32 {
        let after = text
            .split("(pid ")
            .nth(1)
            .unwrap_or_else(|| panic!("no stress-ng pid reported:\n{text}"));
        after[..after.find(')').unwrap()].parse().unwrap()
    };

    let (status, text) = under_load(&["2", "--", "fmt"]);
    assert_eq!(status, Some(0), "{text}");
    for line in [
        "run 1 of 2 passed",
        "run 2 of 2 passed",
        "2 runs passed under load",
    ] {
        assert!(text.contains(line), "no \"{line}\" in:\n{text}");
    }
    let pid = load_pid(&text);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "stress-ng {pid} still runs after the script ended"
    );

    let (status, text) = under_load(&["1", "--", "no-such-stage"]);
    assert_eq!(
        status,
        Some(1),
        "a failed run must fail the script:\n{text}"
    );
    assert!(text.contains("run 1 of 1 failed"), "{text}");
    let pid = load_pid(&text);
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
}

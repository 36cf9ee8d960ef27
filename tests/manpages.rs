//! The manual pages, printspoold(8) and printspoold.toml(5), are cut from one
//! source, `man/printspoold.man`, by `man/generate` (what `make install`
//! runs). These tests keep that source honest:
//!
//! - every option and exit code `printspoold --help` prints is in
//!   printspoold(8);
//! - every configuration key is in printspoold.toml(5) with its built-in
//!   default, and the page documents no key the daemon does not have (the
//!   keys and defaults come from `Config::default()` itself, so a new key
//!   fails here until it is documented);
//! - `MANWIDTH=80 man --warnings -l` renders both without a warning.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use printspoold::config::{Config, PrinterConfig};

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const DAEMON: &str = env!("CARGO_BIN_EXE_printspoold");

/// A page as `make install` generates it.
fn page(name: &str) -> String {
    let out = Command::new(Path::new(REPO).join("man/generate"))
        .arg(Path::new(REPO).join("man/printspoold.man"))
        .arg(name)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "man/generate {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The text of `.SH TITLE` up to the next `.SH`.
fn section<'a>(roff: &'a str, title: &str) -> &'a str {
    let head = format!("\n.SH {title}\n");
    let start = roff
        .find(&head)
        .unwrap_or_else(|| panic!("no section {title}"))
        + head.len();
    let rest = &roff[start..];
    &rest[..rest.find("\n.SH ").unwrap_or(rest.len())]
}

/// Each `.TP` entry of a section: its tag line and the text after it.
fn entries(section: &str) -> Vec<(String, String)> {
    format!("\n{section}")
        .split("\n.TP\n")
        .skip(1)
        .map(|entry| {
            let (tag, text) = entry.split_once('\n').unwrap_or((entry, ""));
            (tag.to_string(), text.to_string())
        })
        .collect()
}

/// How roff spells a command-line word: every `-` escaped.
fn roff_word(word: &str) -> String {
    word.replace('-', "\\-")
}

fn help() -> String {
    let out = Command::new(DAEMON).arg("--help").output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// The options `--help` lists: the first word(s) of its OPTIONS lines, and
/// the `--` words of its USAGE lines.
fn help_options(help: &str) -> Vec<String> {
    let mut words = Vec::new();
    for line in help.lines() {
        let trimmed = line.trim_start();
        let in_options = line.starts_with("  -");
        let in_usage = trimmed.starts_with("printspoold ");
        if !(in_options || in_usage) {
            continue;
        }
        let spec = if in_options {
            trimmed.split("  ").next().unwrap_or("")
        } else {
            trimmed
        };
        for word in spec.split([' ', ',', '[', ']']) {
            if word.starts_with('-') && word.len() > 1 {
                words.push(word.to_string());
            }
        }
        if in_usage && trimmed.starts_with("printspoold cleanup") {
            words.push("cleanup".to_string());
        }
    }
    words.sort();
    words.dedup();
    words
}

#[test]
fn every_option_in_help_is_in_printspoold_8() {
    let help = help();
    let options = help_options(&help);
    assert!(
        options.len() >= 14,
        "--help parsed into too few options: {options:?}"
    );
    let roff = page("printspoold.8");
    let mut tags: Vec<String> = entries(section(&roff, "OPTIONS"))
        .into_iter()
        .chain(entries(section(&roff, "COMMANDS")))
        .map(|(tag, _)| tag)
        .collect();
    tags.retain(|t| t.starts_with(".B"));
    let missing: Vec<&String> = options
        .iter()
        .filter(|o| {
            let word = roff_word(o);
            !tags.iter().any(|tag| {
                tag.split([' ', '"', ','])
                    .any(|w| w == word || w.strip_prefix("\\fB") == Some(&word))
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "in --help but not under OPTIONS or COMMANDS of man/printspoold.man: {missing:?}"
    );
}

#[test]
fn every_exit_code_in_help_is_in_printspoold_8() {
    let help = help();
    let codes: Vec<(String, String)> = help
        .split("EXIT STATUS")
        .nth(1)
        .expect("--help has no EXIT STATUS")
        .lines()
        .filter_map(|l| {
            let (code, meaning) = l.trim().split_once("  ")?;
            code.parse::<u8>()
                .ok()
                .map(|_| (code.to_string(), meaning.trim().to_string()))
        })
        .collect();
    assert_eq!(codes.len(), 8, "{codes:?}");
    let roff = page("printspoold.8");
    let documented: BTreeMap<String, String> = entries(section(&roff, "EXIT STATUS"))
        .into_iter()
        .map(|(tag, text)| (tag.trim_start_matches(".B ").to_string(), text))
        .collect();
    for (code, meaning) in codes {
        let text = documented
            .get(&code)
            .unwrap_or_else(|| panic!("exit code {code} not in printspoold.8"));
        assert_eq!(text.trim(), meaning, "exit code {code}");
    }
}

/// `(section, key, default as Debug prints it)` for every key of the
/// configuration, read from the pretty Debug form of `value`: a `name: Type {`
/// line opens a table, a `name: value,` line is a key.
fn keys_of(debug: &str, top: &str) -> Vec<(String, String, String)> {
    let mut path: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for line in debug.lines() {
        let depth = (line.len() - line.trim_start().len()) / 4;
        let Some((name, value)) = line.trim().split_once(": ") else {
            continue;
        };
        if !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            continue;
        }
        path.truncate(depth.saturating_sub(1));
        if value.ends_with('{') {
            path.push(name.to_string());
        } else {
            let table = std::iter::once(top.to_string())
                .chain(path.iter().cloned())
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(".");
            out.push((
                table,
                name.to_string(),
                value.trim_end_matches(',').to_string(),
            ));
        }
    }
    out
}

/// Every key with its section title in printspoold.toml(5) and its default.
fn configuration_keys() -> Vec<(String, String, String)> {
    let config = format!("{:#?}", Config::default());
    let mut keys: Vec<(String, String, String)> = keys_of(&config, "")
        .into_iter()
        .filter(|(table, key, _)| !(table.is_empty() && key == "printers"))
        .map(|(table, key, value)| (format!("\"[{table}]\""), key, value))
        .collect();
    let printer = format!("{:#?}", PrinterConfig::builtin_default(Path::new("/spool")));
    for (_, key, value) in keys_of(&printer, "") {
        // Not an Option: the key is required.
        let default = if value.starts_with("Some(") || value == "None" {
            "None".to_string()
        } else {
            "required".to_string()
        };
        keys.push(("\"[[printer]]\"".to_string(), key, default));
    }
    keys
}

/// What the page must say for a default, as Debug printed it.
fn expected_default(value: &str) -> String {
    match value {
        "None" => "Default: unset".to_string(),
        "[]" => "Default: empty".to_string(),
        "required" => "Default: none, the key is required".to_string(),
        quoted if quoted.starts_with('"') => {
            format!("Default:\n\\fB{}\\fR", quoted.trim_matches('"'))
        }
        plain => format!("Default: \\fB{plain}\\fR"),
    }
}

#[test]
fn every_configuration_key_is_in_printspoold_toml_5_with_its_default() {
    let keys = configuration_keys();
    assert!(keys.len() >= 20, "too few keys found: {keys:?}");
    let roff = page("printspoold.toml.5");
    let mut problems = Vec::new();
    for (table, key, value) in &keys {
        let entries = entries(section(&roff, table));
        let Some((_, text)) = entries.iter().find(|(tag, _)| *tag == format!(".B {key}")) else {
            problems.push(format!("{table} {key}: not documented"));
            continue;
        };
        let want = expected_default(value);
        // Line breaks in the source are free: compare with them as spaces.
        if !squeeze(text).contains(&squeeze(&want)) {
            problems.push(format!("{table} {key}: does not say \"{want}\""));
        }
    }
    // And nothing documented that the daemon does not have.
    for title in [
        "\"[server]\"",
        "\"[server.limits]\"",
        "\"[dropdir]\"",
        "\"[history]\"",
        "\"[[printer]]\"",
    ] {
        for (tag, _) in entries(section(&roff, title)) {
            let key = tag.trim_start_matches(".B ");
            if !keys.iter().any(|(t, k, _)| t == title && k == key) {
                problems.push(format!("{title} {key}: documented but not a key"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "man/printspoold.man:\n{}",
        problems.join("\n")
    );
}

fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn both_pages_render_without_warnings_and_carry_the_version() {
    let dir = std::env::temp_dir().join(format!("printspoold-man-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["printspoold.8", "printspoold.toml.5"] {
        let text = page(name);
        assert!(
            text.contains(&format!("\"printspoold {}\"", env!("CARGO_PKG_VERSION"))),
            "{name} does not carry the version"
        );
        let file = dir.join(name);
        std::fs::write(&file, &text).unwrap();
        let out = Command::new("man")
            .args(["--warnings", "-l"])
            .arg(&file)
            .env("MANWIDTH", "80")
            .output()
            .expect("man (man-db) is needed: tests/run deps installs it");
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && warnings.is_empty(),
            "{name}: man --warnings said:\n{warnings}"
        );
        let rendered = plain(&String::from_utf8_lossy(&out.stdout));
        assert!(
            rendered.lines().count() > 40,
            "{name} rendered to almost nothing"
        );
        assert!(
            rendered.lines().all(|l| l.chars().count() <= 80),
            "{name}: a line wider than MANWIDTH=80"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Text without the overstrikes (`X\bX` bold, `_\bX` underline) that man
/// writes to a pipe: a backspace takes back the character before it.
fn plain(text: &str) -> String {
    let mut out: Vec<char> = Vec::with_capacity(text.len());
    for c in text.chars() {
        if c == '\u{8}' {
            out.pop();
        } else {
            out.push(c);
        }
    }
    out.into_iter().collect()
}

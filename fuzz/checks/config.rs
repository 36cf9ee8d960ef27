//! Invariants of the configuration loader (`src/config/`), shared by the
//! `config` fuzz target and `tests/fuzz_regressions.rs`.
//!
//! Any UTF-8 text gives a configuration (and deprecation warnings naming a
//! line of the text) or a typed error that names a line of the text; a configuration that is accepted yields valid, unique queue
//! names and a default queue that is one of them.

use std::collections::BTreeSet;
use std::path::Path;

use printspoold::config::{Config, ConfigError};

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz/printspoold.toml");
    match Config::parse(text, path) {
        Ok((config, deprecated)) => {
            check_config(&config);
            for section in &deprecated {
                assert!((1..=line_count(text)).contains(&section.line), "{section}");
            }
        }
        Err(e) => check_error(&e, text, path),
    }
}

fn line_count(text: &str) -> usize {
    text.bytes().filter(|&b| b == b'\n').count() + 1
}

fn check_config(config: &Config) {
    let printers = config.effective_printers(Path::new("/var/spool/printspoold"));
    assert!(!printers.is_empty(), "no queue at all");
    let mut names = BTreeSet::new();
    for printer in &printers {
        assert!(
            is_queue_name(&printer.name),
            "queue name {:?}",
            printer.name
        );
        assert!(
            names.insert(printer.name.as_str()),
            "{} twice",
            printer.name
        );
    }
    let default = config.default_printer_name();
    assert!(
        names.contains(default.as_str()),
        "default {default:?} is no queue"
    );
}

/// The rule `[[printer]] name` documents (1 to 127 of `A-Z a-z 0-9 - _ .`,
/// not starting with `.`), restated here rather than calling the parser's
/// own check.
fn is_queue_name(name: &str) -> bool {
    (1..=127).contains(&name.len())
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn check_error(e: &ConfigError, text: &str, path: &Path) {
    let message = e.to_string();
    assert!(
        message.starts_with(&path.display().to_string()),
        "{message}"
    );
    match e {
        ConfigError::Syntax { line, message, .. } => {
            let lines = line_count(text);
            assert!((1..=lines).contains(line), "line {line} of {lines}");
            assert!(!message.is_empty());
        }
        ConfigError::Invalid { message, .. } => assert!(!message.is_empty()),
        ConfigError::Read { .. } => panic!("parsing text cannot fail to read"),
    }
}

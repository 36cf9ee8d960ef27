//! Configuration errors that name the file, the line and what is wrong.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl ConfigError {
    /// Turns a toml/serde error into one that names the line it points at.
    pub(super) fn syntax(path: &Path, text: &str, err: &toml::de::Error) -> ConfigError {
        let line = err
            .span()
            .map(|span| line_of(text, span.start))
            .unwrap_or(1);
        // toml's own rendering repeats the source line; the message alone is
        // clearer after "file:line:".
        let message = err.message().trim().to_string();
        ConfigError::Syntax {
            path: path.to_path_buf(),
            line,
            message,
        }
    }
}

/// An error about `keys`, naming the line that sets the first of them the
/// file sets (a line starting with `key =`), or only the file when it sets
/// none (the values are then defaults).
pub(super) fn at_key(path: &Path, text: &str, keys: &[&str], message: String) -> ConfigError {
    let sets = |key: &str, line: &str| {
        line.trim_start()
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    };
    let line = keys
        .iter()
        .find_map(|key| text.lines().position(|line| sets(key, line)));
    match line {
        Some(index) => ConfigError::Syntax {
            path: path.to_path_buf(),
            line: index + 1,
            message,
        },
        None => ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        },
    }
}

/// 1-based line number of a byte offset.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

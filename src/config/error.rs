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

/// 1-based line number of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

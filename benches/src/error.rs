//! The benchmark's one error type: every failure names what was being done.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// A peer could not be set up or did not answer as expected.
    #[error("{0}")]
    Setup(String),
    #[error("invalid arguments: {0}\n(try --help)")]
    Usage(String),
    #[error("drawing the chart: {0}")]
    Chart(String),
}

/// Adds what was being done to an `io::Error`.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, BenchError>;
}

impl<T> Context<T> for io::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, BenchError> {
        self.map_err(|source| BenchError::Io {
            context: what(),
            source,
        })
    }
}

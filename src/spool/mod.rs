//! (stub: being written) Durable on-disk spool.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("document larger than {limit} bytes")]
    TooLarge { limit: u64 },
}
pub struct Staging;
pub struct StagedDocument;

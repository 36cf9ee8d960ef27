//! A job's record in the spool: the [`Job`] as JSON.

use super::error::CoreError;
use super::job::Job;

pub fn encode(job: &Job) -> Result<Vec<u8>, CoreError> {
    serde_json::to_vec(job)
        .map_err(|e| CoreError::NotPossible(format!("cannot encode job {}: {e}", job.id)))
}

pub fn decode(meta: &[u8]) -> Result<Job, serde_json::Error> {
    serde_json::from_slice(meta)
}

//! The invariants a recovered spool must keep, over what `printspoold
//! check-spool` printed and what the file backend's `printed/` directory
//! holds. Pure functions: [`crate::spool_view`] gathers the input.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

/// A job the client was told was accepted: `ACK <job-id> <sha256>`, one
/// per line, as the VM's client writes it to the console and to the
/// marker area of the logged disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    pub job_id: u32,
    /// Lower-case hex SHA-256 of the document the client sent.
    pub sha256: String,
}

impl Acknowledgement {
    /// Finds `ACK <id> <sha256>` anywhere in `line` (a console line may
    /// carry other output before it).
    pub fn find_in(line: &str) -> Option<Acknowledgement> {
        let start = line.find("ACK ")?;
        let mut words = line[start + 4..].split_whitespace();
        let job_id = words.next()?.parse().ok()?;
        let sha256 = words.next()?;
        let hex = sha256.len() == 64
            && sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        hex.then(|| Acknowledgement {
            job_id,
            sha256: sha256.to_string(),
        })
    }
}

/// One line of `printspoold check-spool`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ListedJob {
    pub id: u32,
    pub state: Option<String>,
    pub printer: Option<String>,
    pub document_bytes: Option<u64>,
    pub document_sha256: Option<String>,
    pub document_intact: Option<bool>,
}

/// A finished output file of the file backend: `printed/job-<id>.<ext>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintedFile {
    pub name: String,
    pub job_id: Option<u32>,
    pub sha256: String,
}

/// Every broken invariant, as one sentence each; empty when all hold:
///
/// 1. every acknowledged job is listed, with the acknowledged document,
///    intact;
/// 2. no listed job has a damaged document (nothing half-written, whether
///    acknowledged or not);
/// 3. no document was accepted twice (two jobs with the same content would
///    print it twice);
/// 4. every output file is whole (its job's document, byte for byte) and
///    no document was printed into two output files.
pub fn violations(
    acknowledged: &[Acknowledgement],
    jobs: &[ListedJob],
    printed: &[PrintedFile],
) -> Vec<String> {
    let mut found = Vec::new();
    let by_id: HashMap<u32, &ListedJob> = jobs.iter().map(|job| (job.id, job)).collect();
    for ack in acknowledged {
        match by_id.get(&ack.job_id) {
            None => found.push(format!("acknowledged job {} is missing", ack.job_id)),
            Some(job) if job.document_sha256.as_deref() != Some(ack.sha256.as_str()) => {
                found.push(format!(
                    "acknowledged job {}: document sha256 {:?}, the client sent {}",
                    ack.job_id, job.document_sha256, ack.sha256
                ))
            }
            Some(job) if job.document_intact != Some(true) => found.push(format!(
                "acknowledged job {}: document not intact ({:?})",
                ack.job_id, job.document_intact
            )),
            Some(_) => {}
        }
    }
    let mut owners: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for job in jobs {
        if job.document_intact == Some(false) {
            found.push(format!(
                "job {} ({:?}) has a damaged document (half-written)",
                job.id, job.state
            ));
        }
        if let Some(sha) = &job.document_sha256 {
            owners.entry(sha.as_str()).or_default().push(job.id);
        }
    }
    for (sha, ids) in &owners {
        if ids.len() > 1 {
            found.push(format!("document {sha} was accepted as jobs {ids:?}"));
        }
    }
    found.extend(output_violations(&by_id, printed));
    found
}

fn output_violations(by_id: &HashMap<u32, &ListedJob>, printed: &[PrintedFile]) -> Vec<String> {
    let mut found = Vec::new();
    let mut outputs: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for file in printed {
        outputs
            .entry(file.sha256.as_str())
            .or_default()
            .push(file.name.as_str());
        let job = file.job_id.and_then(|id| by_id.get(&id));
        match job {
            None => found.push(format!("output {} belongs to no listed job", file.name)),
            Some(job) if job.document_sha256.as_deref() != Some(file.sha256.as_str()) => found
                .push(format!(
                    "output {} is not job {}'s document (half-printed?)",
                    file.name, job.id
                )),
            Some(_) => {}
        }
    }
    for (sha, names) in outputs {
        if names.len() > 1 {
            found.push(format!("document {sha} was printed twice: {names:?}"));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(n: u8) -> String {
        format!("{n:02x}").repeat(32)
    }

    fn job(id: u32, n: u8, intact: bool) -> ListedJob {
        ListedJob {
            id,
            state: Some("completed".into()),
            printer: Some("lp".into()),
            document_bytes: Some(10),
            document_sha256: Some(sha(n)),
            document_intact: Some(intact),
        }
    }

    fn ack(job_id: u32, n: u8) -> Acknowledgement {
        Acknowledgement {
            job_id,
            sha256: sha(n),
        }
    }

    fn output(job_id: u32, n: u8) -> PrintedFile {
        PrintedFile {
            name: format!("job-{job_id}.bin"),
            job_id: Some(job_id),
            sha256: sha(n),
        }
    }

    #[test]
    fn a_consistent_spool_passes() {
        let jobs = [job(1, 1, true), job(2, 2, true), job(3, 3, true)];
        assert!(violations(&[ack(1, 1), ack(2, 2)], &jobs, &[output(1, 1)]).is_empty());
    }

    #[test]
    fn each_broken_invariant_is_reported() {
        let jobs = [
            job(1, 1, true),
            job(2, 9, true),
            job(4, 4, false),
            job(5, 1, true),
        ];
        let found = violations(
            &[ack(1, 1), ack(2, 2), ack(3, 3)],
            &jobs,
            &[output(1, 7), output(6, 6)],
        );
        let text = found.join("\n");
        assert!(text.contains("job 2: document sha256"), "{text}");
        assert!(text.contains("acknowledged job 3 is missing"), "{text}");
        assert!(text.contains("job 4 "), "{text}");
        assert!(text.contains("accepted as jobs [1, 5]"), "{text}");
        assert!(text.contains("output job-1.bin is not"), "{text}");
        assert!(text.contains("job-6.bin belongs to no"), "{text}");
    }

    #[test]
    fn acknowledgements_are_found_in_console_noise() {
        let line = format!("\r[  12.3] something ACK 42 {}\r", sha(5));
        assert_eq!(Acknowledgement::find_in(&line), Some(ack(42, 5)));
        assert_eq!(Acknowledgement::find_in("ACK 42 abc"), None);
        assert_eq!(Acknowledgement::find_in("no ack here"), None);
    }
}

//! The physical floor: what the disk under the spool allows a durable
//! spooler, measured by a small program of this benchmark (the `floor`
//! subcommand), run as a child process so its cost is its own, on the
//! file system of the daemon's spool, alternating with the daemon's
//! Print-Job rounds (`bench.rs`).
//!
//! Three designs, each reporting jobs per second:
//!
//! - [`FloorDesign::SyncPerJob`]: one writer appends each job's record
//!   (the document's size) to a preallocated, zero-filled file and
//!   fdatasyncs once per job. The file's size never changes and its blocks
//!   are already written, so the sync flushes data only, no metadata.
//! - [`FloorDesign::SyncPerBatch`]: the same file, one fdatasync per batch
//!   of `n` records (a batching loop: what perfect group commit of `n`
//!   concurrent clients reaches).
//! - [`FloorDesign::Today`]: today's spool design with `n` concurrent
//!   writers: per job, the document written to a new file and fdatasynced,
//!   a record file written and fdatasynced, both renamed into place, the
//!   directory fsynced.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{BenchError, Context};

/// Size of today's job record file (the document is separate).
const RECORD_FILE_BYTES: usize = 512;
/// Smallest preallocated log; records wrap around at its end.
const MIN_LOG_BYTES: u64 = 64 * 1024 * 1024;

/// A design whose floor is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloorDesign {
    /// Append to a preallocated file, one fdatasync per job.
    SyncPerJob,
    /// Append to a preallocated file, one fdatasync per batch of this many.
    SyncPerBatch(usize),
    /// Today's design (two files, two fdatasyncs, two renames, a directory
    /// fsync per job) with this many concurrent writers.
    Today(usize),
}

impl FloorDesign {
    pub fn label(self) -> String {
        match self {
            FloorDesign::SyncPerJob => "append, 1 fdatasync per job".into(),
            FloorDesign::SyncPerBatch(n) => format!("append, 1 fdatasync per batch of {n}"),
            FloorDesign::Today(1) => "today's design, 1 writer".into(),
            FloorDesign::Today(n) => format!("today's design, {n} writers"),
        }
    }

    /// The designs measured beside a Print-Job point at `connections`.
    pub fn for_connections(connections: usize) -> Vec<FloorDesign> {
        if connections <= 1 {
            vec![FloorDesign::SyncPerJob, FloorDesign::Today(1)]
        } else {
            vec![
                FloorDesign::SyncPerJob,
                FloorDesign::SyncPerBatch(connections),
                FloorDesign::Today(connections),
            ]
        }
    }

    fn arg(self) -> String {
        match self {
            FloorDesign::SyncPerJob => "per-job".into(),
            FloorDesign::SyncPerBatch(n) => format!("batch:{n}"),
            FloorDesign::Today(n) => format!("today:{n}"),
        }
    }

    fn parse(text: &str) -> Result<FloorDesign, BenchError> {
        let bad = || BenchError::Usage(format!("floor design {text:?}"));
        let count = |n: &str| n.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(bad);
        match text.split_once(':') {
            None if text == "per-job" => Ok(FloorDesign::SyncPerJob),
            Some(("batch", n)) => Ok(FloorDesign::SyncPerBatch(count(n)?)),
            Some(("today", n)) => Ok(FloorDesign::Today(count(n)?)),
            _ => Err(bad()),
        }
    }
}

/// Runs the floor program as a child for `duration`, in `dir` (created if
/// missing; the preallocated log stays there for the next call).
pub fn measure(
    dir: &Path,
    design: FloorDesign,
    record_bytes: usize,
    duration: Duration,
) -> Result<f64, BenchError> {
    let exe = std::env::current_exe().context(|| "finding this program".into())?;
    let output = Command::new(exe)
        .arg("floor")
        .arg(dir)
        .arg(design.arg())
        .arg(record_bytes.to_string())
        .arg(duration.as_secs_f64().to_string())
        .output()
        .context(|| "starting the floor program".into())?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(BenchError::Setup(format!(
            "the floor program failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    text.trim()
        .parse()
        .map_err(|_| BenchError::Setup(format!("the floor program printed {text:?}")))
}

/// `floor DIR DESIGN RECORD_BYTES SECONDS`: the child's side; prints jobs/s.
pub fn main(args: &[String]) -> Result<(), BenchError> {
    let [dir, design, record, seconds] = args else {
        return Err(BenchError::Usage(
            "floor DIR per-job|batch:N|today:N RECORD_BYTES SECONDS".into(),
        ));
    };
    let design = FloorDesign::parse(design)?;
    let record: usize = record
        .parse()
        .map_err(|_| BenchError::Usage(format!("record size {record:?}")))?;
    let seconds: f64 = seconds
        .parse()
        .map_err(|_| BenchError::Usage(format!("duration {seconds:?}")))?;
    let dir = PathBuf::from(dir);
    fs::create_dir_all(&dir).context(|| format!("creating {}", dir.display()))?;
    let duration = Duration::from_secs_f64(seconds);
    let rate = match design {
        FloorDesign::SyncPerJob => append(&dir, record, 1, duration)?,
        FloorDesign::SyncPerBatch(n) => append(&dir, record, n, duration)?,
        FloorDesign::Today(n) => today(&dir, record, n, duration)?,
    };
    println!("{rate:.1}");
    Ok(())
}

/// The preallocated log in `dir`, zero-filled and synced once, reused by
/// later calls when already large enough.
fn preallocated_log(dir: &Path, bytes: u64) -> Result<File, BenchError> {
    let path = dir.join("floor.log");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .context(|| format!("opening {}", path.display()))?;
    let len = file
        .metadata()
        .context(|| format!("reading {}", path.display()))?
        .len();
    if len < bytes {
        let zeros = vec![0u8; 1024 * 1024];
        let mut at = 0;
        while at < bytes {
            file.write_all_at(&zeros, at)
                .context(|| format!("zero-filling {}", path.display()))?;
            at += zeros.len() as u64;
        }
        file.sync_all()
            .context(|| format!("syncing {}", path.display()))?;
    }
    Ok(file)
}

/// Appends `batch` records at a time, one fdatasync per batch; jobs/s.
fn append(dir: &Path, record: usize, batch: usize, duration: Duration) -> Result<f64, BenchError> {
    let batch_bytes = (record * batch) as u64;
    let size = MIN_LOG_BYTES.max(batch_bytes * 2).div_ceil(1024 * 1024) * 1024 * 1024;
    let file = preallocated_log(dir, size)?;
    let chunk = vec![b'j'; record * batch];
    let mut at = 0u64;
    let mut jobs = 0u64;
    let started = Instant::now();
    while started.elapsed() < duration {
        if at + batch_bytes > size {
            at = 0;
        }
        file.write_all_at(&chunk, at)
            .context(|| "appending to the floor log".into())?;
        file.sync_data()
            .context(|| "fdatasync of the floor log".into())?;
        at += batch_bytes;
        jobs += batch as u64;
    }
    Ok(jobs as f64 / started.elapsed().as_secs_f64())
}

/// Today's design with `writers` threads in one directory; jobs/s.
fn today(dir: &Path, record: usize, writers: usize, duration: Duration) -> Result<f64, BenchError> {
    let jobs_dir = dir.join("today");
    let _ = fs::remove_dir_all(&jobs_dir);
    fs::create_dir_all(&jobs_dir).context(|| format!("creating {}", jobs_dir.display()))?;
    let stop = Arc::new(AtomicBool::new(false));
    let jobs = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..writers)
        .map(|writer| {
            let (dir, stop, jobs) = (jobs_dir.clone(), Arc::clone(&stop), Arc::clone(&jobs));
            std::thread::spawn(move || today_writer(&dir, writer, record, &stop, &jobs))
        })
        .collect();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    let mut first_error = None;
    for thread in threads {
        match thread.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => first_error = first_error.or(Some(e)),
            Err(_) => {
                first_error =
                    first_error.or(Some(BenchError::Setup("a floor writer panicked".into())))
            }
        }
    }
    let rate = jobs.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    let _ = fs::remove_dir_all(&jobs_dir);
    match first_error {
        Some(e) => Err(e),
        None => Ok(rate),
    }
}

/// One writer of [`today`]: a job at a time until `stop`.
fn today_writer(
    dir: &Path,
    writer: usize,
    record: usize,
    stop: &AtomicBool,
    jobs: &AtomicU64,
) -> Result<(), BenchError> {
    let document = vec![b'd'; record];
    let record_file = vec![b'r'; RECORD_FILE_BYTES];
    let directory = File::open(dir).context(|| format!("opening {}", dir.display()))?;
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let name = format!("{writer}-{n}");
        let doc_tmp = dir.join(format!("d{name}.tmp"));
        let rec_tmp = dir.join(format!("c{name}.tmp"));
        write_synced(&doc_tmp, &document)?;
        write_synced(&rec_tmp, &record_file)?;
        fs::rename(&doc_tmp, dir.join(format!("d{name}")))
            .context(|| format!("renaming {}", doc_tmp.display()))?;
        fs::rename(&rec_tmp, dir.join(format!("c{name}")))
            .context(|| format!("renaming {}", rec_tmp.display()))?;
        directory
            .sync_all()
            .context(|| format!("fsync of {}", dir.display()))?;
        jobs.fetch_add(1, Ordering::Relaxed);
        // Keep each writer's last job only, as history purges would: with
        // 1 MiB documents at 64 writers the files would otherwise fill the
        // bench's file system within a round. Unlinks are not synced.
        if let Some(previous) = n.checked_sub(1) {
            let _ = fs::remove_file(dir.join(format!("d{writer}-{previous}")));
            let _ = fs::remove_file(dir.join(format!("c{writer}-{previous}")));
        }
        n += 1;
    }
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), BenchError> {
    let mut file = File::create(path).context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .context(|| format!("writing {}", path.display()))?;
    file.sync_data()
        .context(|| format!("fdatasync of {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the parent passes on the command line is what the child runs.
    #[test]
    fn designs_survive_the_command_line() {
        for connections in [1, 8, 64] {
            for design in FloorDesign::for_connections(connections) {
                assert_eq!(FloorDesign::parse(&design.arg()).unwrap(), design);
            }
        }
        assert!(FloorDesign::parse("batch:0").is_err());
        assert!(FloorDesign::parse("today").is_err());
    }

    /// The floor program measures something, and its log is reused.
    #[test]
    fn the_floor_counts_jobs() {
        let dir = std::env::temp_dir().join(format!("floor-test.{}", std::process::id()));
        let short = Duration::from_millis(50);
        assert!(append(&dir_made(&dir), 1024, 8, short).unwrap() > 0.0);
        assert!(today(&dir, 1024, 2, short).unwrap() > 0.0);
        assert!(!dir.join("today").exists());
        let _ = fs::remove_dir_all(&dir);
    }

    fn dir_made(dir: &Path) -> PathBuf {
        fs::create_dir_all(dir).unwrap();
        dir.to_path_buf()
    }
}

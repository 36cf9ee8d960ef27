//! `flush-replay`: see the library's documentation and tests/vm/README.md.
//!
//! ```text
//! flush-replay replay --base IMG --log LOG --marker-offset BYTES
//!                     --printspoold BIN --work DIR
//!                     [--max-flush-points N] [--samples N] [--seed N]
//! flush-replay verify --image IMG --acks FILE --printspoold BIN --work DIR
//! ```
//!
//! Both need root (loop mounts). The last line printed is the summary;
//! the exit status is 1 when an invariant broke, 2 when the check could
//! not run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use flush_replay::ReplayError;
use flush_replay::log::WriteLog;
use flush_replay::replay::{ReplayPlan, replay};
use flush_replay::spool_view::Inspector;
use flush_replay::verdict::{Acknowledgement, violations};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.split_first() {
        Some((mode, rest)) if mode == "replay" => options(rest).and_then(|o| run_replay(&o)),
        Some((mode, rest)) if mode == "verify" => options(rest).and_then(|o| run_verify(&o)),
        _ => Err(ReplayError::Usage(
            "usage: flush-replay replay|verify --option value ... (see its source)".into(),
        )),
    };
    match outcome {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("flush-replay: {e}");
            ExitCode::from(2)
        }
    }
}

/// `--name value` pairs.
struct Options(HashMap<String, String>);

fn options(args: &[String]) -> Result<Options, ReplayError> {
    let mut map = HashMap::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let name = word
            .strip_prefix("--")
            .ok_or_else(|| ReplayError::Usage(format!("unexpected argument {word}")))?;
        let value = words
            .next()
            .ok_or_else(|| ReplayError::Usage(format!("--{name} needs a value")))?;
        map.insert(name.to_string(), value.clone());
    }
    Ok(Options(map))
}

impl Options {
    fn path(&self, name: &str) -> Result<PathBuf, ReplayError> {
        self.0
            .get(name)
            .map(PathBuf::from)
            .ok_or_else(|| ReplayError::Usage(format!("--{name} is required")))
    }

    fn number(&self, name: &str, default: u64) -> Result<u64, ReplayError> {
        match self.0.get(name) {
            None => Ok(default),
            Some(text) => text
                .parse()
                .map_err(|_| ReplayError::Usage(format!("--{name} wants a number, not {text}"))),
        }
    }

    fn inspector(&self) -> Result<Inspector, ReplayError> {
        let work = self.path("work")?;
        let mount_point = work.join("mnt");
        std::fs::create_dir_all(&mount_point)
            .map_err(|e| ReplayError::Usage(format!("{}: {e}", mount_point.display())))?;
        Ok(Inspector {
            printspoold: self.path("printspoold")?,
            mount_point,
            spool_subdir: self
                .0
                .get("spool-subdir")
                .map(PathBuf::from)
                .unwrap_or_default(),
        })
    }
}

fn run_replay(options: &Options) -> Result<usize, ReplayError> {
    let inspector = options.inspector()?;
    let mut log = WriteLog::open(&options.path("log")?)?;
    let plan = ReplayPlan {
        max_flush_points: options.number("max-flush-points", 400)? as usize,
        samples: options.number("samples", 40)? as usize,
        seed: options.number("seed", 1)?,
        marker_offset: options.number("marker-offset", u64::MAX)?,
    };
    let summary = replay(
        &options.path("base")?,
        &mut log,
        &plan,
        &inspector,
        &options.path("work")?,
    )?;
    for failure in summary.failures.iter().take(30) {
        println!("FAIL {failure}");
    }
    println!(
        "flush-replay: {} log entries, {} flush points ({} checked), {} samples between flushes, \
         {} acknowledged jobs, {:.1} s: {}",
        summary.entries,
        summary.flush_points,
        summary.flush_points_checked,
        summary.samples_checked,
        summary.acknowledged,
        summary.seconds,
        verdict(summary.failures.len())
    );
    if summary.acknowledged == 0 {
        println!("FAIL no acknowledgement marker in the log: nothing was proven");
        return Ok(1);
    }
    Ok(summary.failures.len())
}

/// Checks one image (a copy: recovery writes) against the acknowledgements
/// in a text file such as the VM's console log.
fn run_verify(options: &Options) -> Result<usize, ReplayError> {
    let inspector = options.inspector()?;
    let image = options.path("image")?;
    let acks_path = options.path("acks")?;
    let text = std::fs::read(&acks_path)
        .map_err(|e| ReplayError::Usage(format!("{}: {e}", acks_path.display())))?;
    let acknowledged: Vec<Acknowledgement> = String::from_utf8_lossy(&text)
        .lines()
        .filter_map(Acknowledgement::find_in)
        .collect();
    let copy = options.path("work")?.join("verify.img");
    copy_file(&image, &copy)?;
    let snapshot = inspector.inspect(&copy)?;
    let found = violations(&acknowledged, &snapshot.jobs, &snapshot.printed);
    for failure in found.iter().take(30) {
        println!("FAIL {failure}");
    }
    println!(
        "flush-replay verify: {} acknowledged jobs, {} jobs in the spool, {} printed files: {}",
        acknowledged.len(),
        snapshot.jobs.len(),
        snapshot.printed.len(),
        verdict(found.len())
    );
    if acknowledged.is_empty() {
        println!("FAIL no acknowledgement in {}", acks_path.display());
        return Ok(1);
    }
    Ok(found.len())
}

fn copy_file(from: &Path, to: &Path) -> Result<(), ReplayError> {
    std::fs::copy(from, to).map(|_| ()).map_err(|e| {
        ReplayError::Usage(format!("copy {} to {}: {e}", from.display(), to.display()))
    })
}

fn verdict(failures: usize) -> String {
    if failures == 0 {
        "ok".to_string()
    } else {
        format!("{failures} broken invariant(s)")
    }
}

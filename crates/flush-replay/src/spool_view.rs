//! Looks at a spool on a disk image the way the tests may: mount it (a
//! loop device; root only), run `printspoold check-spool` on it as the
//! spool's owner, hash the file backend's output, unmount.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

use crate::ReplayError;
use crate::verdict::{ListedJob, PrintedFile};

/// How to inspect one image.
#[derive(Debug, Clone)]
pub struct Inspector {
    /// The `printspoold` binary.
    pub printspoold: PathBuf,
    /// Empty directory to mount images on.
    pub mount_point: PathBuf,
    /// The spool inside the image's file system ("" for its root).
    pub spool_subdir: PathBuf,
}

/// What one image held after recovery.
#[derive(Debug, Clone)]
pub struct SpoolSnapshot {
    pub jobs: Vec<ListedJob>,
    pub printed: Vec<PrintedFile>,
}

impl Inspector {
    /// Mounts `image` read-write (the file system's and the spool's
    /// recovery both write), inspects it, and unmounts it again even when
    /// the inspection failed.
    pub fn inspect(&self, image: &Path) -> Result<SpoolSnapshot, ReplayError> {
        run(Command::new("mount")
            .arg("-o")
            .arg("loop,rw")
            .arg(image)
            .arg(&self.mount_point))
        .map_err(|e| ReplayError::Mount(format!("{}: {e}", image.display())))?;
        let seen = self.inspect_mounted();
        let unmounted = run(Command::new("umount").arg(&self.mount_point));
        let snapshot = seen?;
        unmounted.map_err(|e| ReplayError::Mount(format!("umount: {e}")))?;
        Ok(snapshot)
    }

    fn inspect_mounted(&self) -> Result<SpoolSnapshot, ReplayError> {
        let spool = self.mount_point.join(&self.spool_subdir);
        let owner =
            fs::metadata(&spool).map_err(|e| ReplayError::io("look at the spool", &spool, e))?;
        // check-spool refuses a spool that is not its own user's, as the
        // daemon does: run it as the spool's owner.
        let output = Command::new(&self.printspoold)
            .arg("check-spool")
            .arg("--spool")
            .arg(&spool)
            .uid(owner.uid())
            .gid(owner.gid())
            .output()
            .map_err(|e| ReplayError::io("run check-spool", &self.printspoold, e))?;
        if !output.status.success() {
            return Err(ReplayError::Recovery(describe(&output)));
        }
        let jobs = parse_listing(&String::from_utf8_lossy(&output.stdout))?;
        let printed = printed_files(&spool.join("printed"))?;
        Ok(SpoolSnapshot { jobs, printed })
    }
}

/// Every line of `check-spool`'s output, which must all parse.
pub fn parse_listing(text: &str) -> Result<Vec<ListedJob>, ReplayError> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line)
                .map_err(|e| ReplayError::Recovery(format!("check-spool printed {line:?}: {e}")))
        })
        .collect()
}

/// The finished output files (not the backend's hidden temp files).
fn printed_files(dir: &Path) -> Result<Vec<PrintedFile>, ReplayError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ReplayError::io("list", dir, e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ReplayError::io("list", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let sha256 = fs::File::open(&path)
            .and_then(sha256_hex)
            .map_err(|e| ReplayError::io("read", &path, e))?;
        files.push(PrintedFile {
            job_id: job_id_of_output(&name),
            name,
            sha256,
        });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// `job-17.bin` is job 17's.
fn job_id_of_output(name: &str) -> Option<u32> {
    name.strip_prefix("job-")?.split('.').next()?.parse().ok()
}

/// Lower-case hex SHA-256 of everything `reader` yields.
pub fn sha256_hex(mut reader: impl Read) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command.output().map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(describe(&output))
    }
}

fn describe(output: &Output) -> String {
    format!(
        "{}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names_give_their_job() {
        assert_eq!(job_id_of_output("job-17.bin"), Some(17));
        assert_eq!(job_id_of_output("job-3.pdf"), Some(3));
        assert_eq!(job_id_of_output("notes.txt"), None);
    }

    #[test]
    fn listing_lines_parse_and_bad_ones_fail() {
        let jobs = parse_listing(
            "{\"id\":3,\"state\":\"pending\",\"printer\":\"lp\",\"document_bytes\":4,\
             \"document_sha256\":null,\"document_intact\":null}\n",
        )
        .unwrap();
        assert_eq!(jobs[0].id, 3);
        assert!(parse_listing("not json\n").is_err());
    }
}

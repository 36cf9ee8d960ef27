//! Scratch directories, seeds, spool inspection and mounts.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// A directory under the system temp dir, removed on drop unless
/// `PRINTSPOOLD_KEEP_TEST_DIRS` is set (to inspect a failed run).
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    pub fn new(label: &str) -> ScratchDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "printspoold-e2e-{label}-{}-{n}-{}",
            std::process::id(),
            seed_from_clock() % 1_000_000
        ));
        fs::create_dir_all(&path).unwrap();
        ScratchDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if std::env::var_os("PRINTSPOOLD_KEEP_TEST_DIRS").is_some() {
            eprintln!("keeping {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

pub(crate) fn seed_from_clock() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 32)
}

/// splitmix64: plenty for test data and timings. The seed is printed by the
/// tests that use it so a failing run can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// Seeded from `PRINTSPOOLD_TEST_SEED` when set, else from the clock.
    pub fn from_env_or_clock() -> (Rng, u64) {
        let seed = std::env::var("PRINTSPOOLD_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(seed_from_clock);
        (Rng::new(seed), seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

/// Creates `spool` (and missing parents) at most 0755 whatever the umask:
/// the daemon refuses a spool writable by group or others (exit 6).
pub fn create_spool_dir(spool: &Path) {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(spool)
        .unwrap();
}

/// Regular files in `dir`, sorted; empty when it does not exist.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}

/// Makes a FIFO with permissions `mode` at `path`.
pub fn mkfifo(path: &Path, mode: u32) {
    use rustix::fs::{CWD, FileType, Mode, mknodat};
    mknodat(CWD, path, FileType::Fifo, Mode::from_raw_mode(mode), 0)
        .unwrap_or_else(|e| panic!("mkfifo {}: {e}", path.display()));
}

/// Whether this test may do what needs root (mounting). When not root it
/// prints why the test does nothing and returns false, so a developer's
/// run passes; under `CI=true` (tests/run runs the suite as root there)
/// a missing privilege is a failure instead, never a silent skip.
pub fn require_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test} needs root (it mounts a file system) and CI=true forbids skipping"
    );
    eprintln!("{test}: skipped: needs root (it mounts a file system)");
    false
}

/// A file system mounted for one test, unmounted on drop (lazily if it is
/// still busy, so a failed test never leaves it behind).
pub struct Mount {
    path: PathBuf,
}

impl Mount {
    /// Mounts a tmpfs of `size` (as mount(8) takes it: `2m`) at `path`.
    pub fn tmpfs(path: &Path, size: &str) -> Mount {
        fs::create_dir_all(path).unwrap();
        Mount::run(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o"])
                .arg(format!("size={size},mode=0700"))
                .arg("printspoold-test")
                .arg(path),
        );
        Mount {
            path: path.to_path_buf(),
        }
    }

    /// Makes the directory `path` read-only in place (a read-only bind
    /// mount of itself): writes there fail with EROFS, even for root.
    pub fn read_only_bind(path: &Path) -> Mount {
        Mount::run(Command::new("mount").arg("--bind").arg(path).arg(path));
        let mount = Mount {
            path: path.to_path_buf(),
        };
        Mount::run(
            Command::new("mount")
                .args(["-o", "remount,bind,ro"])
                .arg(path),
        );
        mount
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn run(command: &mut Command) {
        let output = command
            .output()
            .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
        assert!(
            output.status.success(),
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.path)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

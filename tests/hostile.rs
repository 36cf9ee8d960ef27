//! Red team (issue 12): an unprivileged local user, `nobody`, against the
//! real daemon running as root, through the only door a local user has
//! without a network client: the drop directory. Plus the spool faults
//! that recovery must survive (a FIFO or a symlink where a record should
//! be, a record whose document vanished).
//!
//! The attacker's side runs in a forked child that drops to
//! `nobody:nogroup` (no supplementary groups) before doing anything; the
//! child only makes system calls on memory prepared before the fork (the
//! test process has threads, so nothing else is safe there).
//!
//! What must hold afterwards: every job queued before the attack is still
//! there, untouched (inode, mtime and SHA-256 of `docs/`, of the journal's
//! segments as far as they were written, of the spool root and of a
//! root-only file outside the spool), and prints byte-identical; and no
//! drop-directory name forges a line in the journal-style log.

mod common;
#[allow(dead_code, reason = "shared with other test crates")]
#[path = "common/spool_files.rs"]
mod spool_files;

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::{self, File};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

/// Swap attacks; cycled over the four targets, so each gets a quarter.
const ROUNDS: usize = 60;
/// Jobs queued (held) before the attack.
const VICTIMS: usize = 4;
/// A round ends when the daemon has emptied the attacker's directory, or
/// the attacker's swap stopped, or after this long.
const ROUND_LIMIT: Duration = Duration::from_secs(5);
/// How long the daemon may take to finish anything it started.
const SETTLE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// The daemon, logging in journal style.

/// The daemon as root, stderr appended to `log`, with `JOURNAL_STREAM`
/// naming that file, so it logs as under systemd: every line starts with a
/// `<N>` priority, the very thing a forged line would imitate.
struct JournalDaemon {
    child: Child,
    _notifications: Notifications,
    sockets: Arc<PassedSockets>,
    addr: SocketAddr,
    spool: PathBuf,
    log: PathBuf,
}

impl JournalDaemon {
    /// Starts a daemon on `dir/spool` with `config`; the spool root is made
    /// 0711 first (as tmpfiles.d does), so `nobody` can reach `incoming/`.
    fn start(dir: &Path, config: &str) -> JournalDaemon {
        let spool = dir.join("spool");
        fs::create_dir_all(&spool).unwrap();
        fs::set_permissions(&spool, fs::Permissions::from_mode(0o711)).unwrap();
        fs::write(dir.join("config.toml"), config).unwrap();
        Self::launch(dir, Arc::new(PassedSockets::tcp()), Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("printspoold did not start: {e}"))
    }

    fn launch(
        dir: &Path,
        sockets: Arc<PassedSockets>,
        ready_within: Duration,
    ) -> Result<JournalDaemon, String> {
        let spool = dir.join("spool");
        let log = dir.join("daemon.log");
        let stderr = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let meta = stderr.metadata().unwrap();
        let mut launch = ServiceLaunch::new(DAEMON, Some(&sockets), dir);
        launch
            .command()
            .arg("--config")
            .arg(dir.join("config.toml"))
            .arg("--spool-dir")
            .arg(&spool)
            .arg("--no-dbus")
            .stdin(Stdio::null())
            .stdout(stderr.try_clone().unwrap())
            .stderr(stderr)
            .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()));
        let service = launch.spawn(ready_within).map_err(|e| {
            let text = String::from_utf8_lossy(&fs::read(&log).unwrap_or_default()).into_owned();
            format!("{e}; log:\n{text}")
        })?;
        Ok(JournalDaemon {
            child: service.child,
            _notifications: service.notifications,
            addr: sockets.addr(),
            sockets,
            spool,
            log,
        })
    }

    /// SIGKILL and a start on the same spool and sockets; panics (with the
    /// log) if the new daemon does not serve within 10 s.
    fn restart(&mut self, dir: &Path) {
        self.kill();
        match Self::launch(dir, Arc::clone(&self.sockets), Duration::from_secs(10)) {
            Ok(daemon) => *self = daemon,
            Err(e) => panic!("the daemon did not come back after a restart: {e}"),
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log_text(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    fn uri(&self) -> String {
        format!("ipp://{}/printers/default", self.addr)
    }

    fn incoming(&self) -> PathBuf {
        self.spool.join("incoming")
    }

    /// Print-Job on the default queue with `job-hold-until=indefinite`.
    fn submit_held(&self, document: &[u8]) -> i32 {
        let request = print_job(
            &self.uri(),
            "victim",
            "application/octet-stream",
            document,
            true,
        );
        let response = ipp_call(self.addr, "/printers/default", &request);
        assert_eq!(
            response.status,
            status::OK,
            "Print-Job: 0x{:04x}",
            response.status
        );
        response.integer("job-id").expect("job-id")
    }

    fn state(&self, id: i32) -> Option<i32> {
        let response = post(
            self.addr,
            "/printers/default",
            &get_job_attributes(&self.uri(), id),
        )
        .ok()?;
        response.ipp().integer("job-state")
    }

    fn release(&self, id: i32) -> u16 {
        ipp_call(
            self.addr,
            "/printers/default",
            &release_job(&self.uri(), id),
        )
        .status
    }
}

impl Drop for JournalDaemon {
    fn drop(&mut self) {
        self.kill();
    }
}

fn config(dir: &Path) -> String {
    format!(
        "[[printer]]\nname = \"default\"\ndevice_uri = \"file://{0}/default-out\"\n\
         [[printer]]\nname = \"office\"\ndevice_uri = \"file://{0}/office-out\"\n",
        dir.display()
    )
}

// ---------------------------------------------------------------------------
// The attacker: a forked child as nobody.

fn nobody() -> (libc::uid_t, libc::gid_t) {
    let name = CString::new("nobody").unwrap();
    // SAFETY: getpwnam returns null or a pointer to static storage, read at
    // once; the test threads do not call getpw* concurrently.
    unsafe {
        let entry = libc::getpwnam(name.as_ptr());
        assert!(!entry.is_null(), "no user nobody");
        ((*entry).pw_uid, (*entry).pw_gid)
    }
}

fn c_path(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).unwrap()
}

/// One thing the attacker does, prepared before the fork.
enum Step {
    /// Creates a file with this content (mode 0644).
    Write(CString, Vec<u8>),
    Mkdir(CString),
    Symlink {
        target: CString,
        link: CString,
    },
    Rename {
        from: CString,
        to: CString,
    },
    /// Waits (at most 5 s) until `probe` is gone, meaning the daemon has
    /// started walking, then exchanges `a` and `b` (`RENAME_EXCHANGE`),
    /// pausing `pauses_us` in turn, until an exchange fails (one of the
    /// two names was taken away).
    SwapLoop {
        probe: Option<CString>,
        a: CString,
        b: CString,
        pauses_us: Vec<u32>,
        /// Counts the exchanges made, for the parent to see.
        swaps: &'static SwapCounter,
    },
}

/// A counter in memory shared with the forked attacker (`MAP_SHARED`), so
/// the test can tell that the swaps really happened during the walk.
struct SwapCounter(std::sync::atomic::AtomicU64);

impl SwapCounter {
    /// Maps one shared page; it stays mapped for the rest of the test
    /// process (a page per round, a handful of KiB in all).
    fn new() -> &'static SwapCounter {
        // SAFETY: a fresh anonymous shared mapping of one page, checked for
        // failure; zeroed memory is a valid AtomicU64, suitably aligned.
        unsafe {
            let page = libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(page, libc::MAP_FAILED, "mmap");
            &*page.cast::<SwapCounter>()
        }
    }

    fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Forks; the child becomes nobody:nogroup and takes `steps`. Exit status
/// 0, or 10 + the index of the step that failed.
fn spawn_as_nobody(steps: &[Step]) -> libc::pid_t {
    let (uid, gid) = nobody();
    // SAFETY: the child runs only `attacker`, which makes async-signal-safe
    // system calls on memory prepared before the fork and ends in _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: see above; never returns.
        unsafe { attacker(uid, gid, steps) }
    }
    pid
}

/// The child's side. No allocation, no locks, no panics: only system calls.
unsafe fn attacker(uid: libc::uid_t, gid: libc::gid_t, steps: &[Step]) -> ! {
    // SAFETY (whole body): system calls on NUL-terminated strings that live
    // in the parent's memory image, copied by fork and never freed here.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        // Copies of the other test threads' descriptors (a spawn's
        // exec-status pipe, client sockets) must not outlive their owners.
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
        if libc::setgroups(0, std::ptr::null()) != 0
            || libc::setgid(gid) != 0
            || libc::setuid(uid) != 0
            || libc::setuid(0) == 0
        {
            libc::_exit(2);
        }
        for (index, step) in steps.iter().enumerate() {
            let ok = match step {
                Step::Write(path, bytes) => {
                    let fd = libc::open(
                        path.as_ptr(),
                        libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
                        0o644,
                    );
                    fd >= 0
                        && libc::write(fd, bytes.as_ptr().cast(), bytes.len())
                            == bytes.len() as isize
                        && libc::close(fd) == 0
                }
                Step::Mkdir(path) => libc::mkdir(path.as_ptr(), 0o755) == 0,
                Step::Symlink { target, link } => {
                    libc::symlink(target.as_ptr(), link.as_ptr()) == 0
                }
                Step::Rename { from, to } => libc::rename(from.as_ptr(), to.as_ptr()) == 0,
                Step::SwapLoop {
                    probe,
                    a,
                    b,
                    pauses_us,
                    swaps,
                } => {
                    swap_loop(probe.as_ref(), a, b, pauses_us, swaps);
                    true
                }
            };
            if !ok {
                libc::_exit(10 + index as i32);
            }
        }
        libc::_exit(0)
    }
}

/// See [`Step::SwapLoop`]. Async-signal-safe calls only.
unsafe fn swap_loop(
    probe: Option<&CString>,
    a: &CString,
    b: &CString,
    pauses_us: &[u32],
    swaps: &SwapCounter,
) {
    // SAFETY: as in `attacker`; `st` is plain data.
    unsafe {
        if let Some(probe) = probe {
            let mut st: libc::stat = std::mem::zeroed();
            let mut polls = 0u32;
            while libc::lstat(probe.as_ptr(), &mut st) == 0 && polls < 100_000 {
                polls += 1;
                pause_us(50);
            }
        }
        let mut turn = 0usize;
        loop {
            let swapped = libc::syscall(
                libc::SYS_renameat2,
                libc::AT_FDCWD,
                a.as_ptr(),
                libc::AT_FDCWD,
                b.as_ptr(),
                libc::RENAME_EXCHANGE,
            );
            if swapped != 0 {
                return;
            }
            swaps.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if !pauses_us.is_empty() {
                pause_us(pauses_us[turn % pauses_us.len()]);
            }
            turn = turn.wrapping_add(1);
        }
    }
}

unsafe fn pause_us(us: u32) {
    if us == 0 {
        // SAFETY: sched_yield has no preconditions.
        unsafe { libc::sched_yield() };
        return;
    }
    let time = libc::timespec {
        tv_sec: libc::time_t::from(us / 1_000_000),
        tv_nsec: libc::c_long::from(us % 1_000_000) * 1000,
    };
    // SAFETY: a valid timespec; a signal cutting it short does not matter.
    unsafe { libc::nanosleep(&time, std::ptr::null_mut()) };
}

/// Waits up to `timeout` for `pid`; its exit code, or None if still running.
fn wait_child(pid: libc::pid_t, timeout: Duration) -> Option<i32> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut status = 0;
        // SAFETY: waitpid on our own child with a valid status pointer.
        let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if done == pid {
            return Some(libc::WEXITSTATUS(status));
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn kill_child(pid: libc::pid_t) {
    // SAFETY: our own child; then reap it.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
}

/// Runs `steps` as nobody to the end and asserts they all worked.
fn as_nobody(steps: &[Step]) {
    let pid = spawn_as_nobody(steps);
    let code = wait_child(pid, Duration::from_secs(20));
    assert_eq!(
        code,
        Some(0),
        "the attacker's step {code:?} (minus 10) failed"
    );
}

/// Gives `path` (not following a symlink) to nobody.
fn give_to_nobody(path: &Path) {
    let (uid, gid) = nobody();
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
}

// ---------------------------------------------------------------------------
// Before/after listings.

/// What a directory entry was: inode and type always; for a regular file
/// also its mtime and content hash (a directory's mtime changes whenever
/// the daemon adds a job, which is not the attack). A journal segment is
/// appended to in place by every job, so for it only the bytes written
/// when first seen (`prefix`: up to its last non-zero byte) are hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    ino: u64,
    kind: u32,
    mtime: (i64, i64),
    sha256: Option<String>,
    prefix: Option<usize>,
}

fn snapshot(dir: &Path) -> BTreeMap<String, Seen> {
    snapshot_against(dir, &BTreeMap::new())
}

/// [`snapshot`], hashing each segment seen in `before` over the prefix
/// recorded then.
fn snapshot_against(dir: &Path, before: &BTreeMap<String, Seen>) -> BTreeMap<String, Seen> {
    let mut seen = BTreeMap::new();
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let meta = fs::symlink_metadata(entry.path()).unwrap();
        let is_file = meta.file_type().is_file();
        let bytes = if is_file {
            fs::read(entry.path()).unwrap()
        } else {
            Vec::new()
        };
        let segment = is_file && name.ends_with(".wal");
        let prefix = match before.get(&name).map(|b| b.prefix) {
            Some(prefix) => prefix,
            None => segment.then(|| bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1)),
        };
        let hashed = &bytes[..prefix.unwrap_or(bytes.len()).min(bytes.len())];
        seen.insert(
            name,
            Seen {
                ino: meta.ino(),
                kind: meta.mode() & libc::S_IFMT,
                mtime: if is_file && prefix.is_none() {
                    (meta.mtime(), meta.mtime_nsec())
                } else {
                    (0, 0)
                },
                sha256: is_file.then(|| sha256_hex(hashed)),
                prefix,
            },
        );
    }
    seen
}

/// Every entry of `before` still in `dir` as it was; what differs.
fn damage(dir: &Path, before: &BTreeMap<String, Seen>) -> Vec<String> {
    let now = if dir.is_dir() {
        snapshot_against(dir, before)
    } else {
        BTreeMap::new()
    };
    before
        .iter()
        .filter(|(name, seen)| now.get(*name) != Some(seen))
        .map(|(name, seen)| {
            format!(
                "{}: was {seen:?}, now {:?}",
                dir.join(name).display(),
                now.get(name)
            )
        })
        .collect()
}

/// Directories anywhere under `dir` (excluding `dir`), for "no directory
/// was moved out of incoming/".
fn directories_in(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            found.push(entry.path());
        }
    }
    found
}

/// The contents of every regular file under `dir`, recursively, hashed.
fn hashes_under(dir: &Path) -> Vec<String> {
    let mut hashes = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            hashes.extend(hashes_under(&entry.path()));
        } else if kind.is_file() {
            hashes.push(sha256_hex(&fs::read(entry.path()).unwrap_or_default()));
        }
    }
    hashes
}

// ---------------------------------------------------------------------------
// The swap attack.

#[derive(Clone, Copy, Debug)]
enum Aim {
    /// The spool's `docs/`: entries named like the victims' documents.
    Docs,
    /// The spool's `journal/`: entries named like its segments.
    Journal,
    /// The spool root: entries named like the spool's own.
    SpoolRoot,
    /// A root-owned directory outside the spool with a root-only file.
    Outside,
}

struct Round {
    /// Where the attacker prepares the round (its own directory).
    home: PathBuf,
    /// The first entry the daemon takes: gone means the walk started.
    first: String,
    /// A descriptor of the attacker's real directory, wherever it is moved.
    real: File,
    /// How many files it started with.
    entries: usize,
}

fn prepare_round(
    attacker_home: &Path,
    round: usize,
    rng: &mut Rng,
    target: &Path,
    bait: &[String],
) -> Round {
    let home = attacker_home.join(format!("r{round}"));
    let office = home.join("office");
    fs::create_dir_all(&office).unwrap();
    // Harmless files that sort first keep the daemon busy in the real
    // directory; the bait names, last, mean something in the target.
    let pads = rng.range(2, 8) as usize;
    let mut names: Vec<String> = (0..pads).map(|i| format!("0000-pad-{i:02}")).collect();
    names.extend(bait.iter().cloned());
    for name in &names {
        let path = office.join(name);
        fs::write(&path, format!("harmless {round} {name}\n")).unwrap();
        give_to_nobody(&path);
    }
    std::os::unix::fs::symlink(target, home.join(".lnk")).unwrap();
    for path in [home.join(".lnk"), office.clone(), home.clone()] {
        give_to_nobody(&path);
    }
    fs::set_permissions(&office, fs::Permissions::from_mode(0o755)).unwrap();
    Round {
        home,
        first: names[0].clone(),
        real: File::open(&office).unwrap(),
        entries: names.len(),
    }
}

fn attack_steps(
    round: &Round,
    incoming: &Path,
    index: usize,
    rng: &mut Rng,
    swaps: &'static SwapCounter,
) -> Vec<Step> {
    let office = incoming.join("office");
    let link = incoming.join(".lnk-office");
    // Varied timing: sometimes at once (the window between the daemon's
    // look at office/ and its listing), sometimes once the walk started;
    // pauses from a yield up to a few milliseconds.
    let wait_for_walk = index.is_multiple_of(2);
    let max_pause = [0u64, 50, 300, 2000, 6000][index % 5];
    let pauses_us = (0..32).map(|_| rng.range(0, max_pause) as u32).collect();
    vec![
        Step::Rename {
            from: c_path(&round.home.join(".lnk")),
            to: c_path(&link),
        },
        Step::Rename {
            from: c_path(&round.home.join("office")),
            to: c_path(&office),
        },
        Step::SwapLoop {
            probe: wait_for_walk.then(|| c_path(&office.join(&round.first))),
            a: c_path(&office),
            b: c_path(&link),
            pauses_us,
            swaps,
        },
    ]
}

/// Entries left in the attacker's real directory (via its descriptor).
fn entries_left(real: &File) -> usize {
    fs::read_dir(format!("/proc/self/fd/{}", real.as_raw_fd()))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Removes what the round left in incoming/ (a symlink is removed, never
/// followed).
fn clear_round(incoming: &Path) {
    for name in ["office", ".lnk-office"] {
        let path = incoming.join(name);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {
                let _ = fs::remove_dir_all(&path);
            }
            Ok(_) => {
                let _ = fs::remove_file(&path);
            }
            Err(_) => {}
        }
    }
}

#[test]
fn a_printer_directory_swapped_for_a_symlink_never_reaches_outside_incoming() {
    if !require_root("the drop-directory swap attack (drops to nobody)") {
        return;
    }
    let started = Instant::now();
    let (mut rng, seed) = Rng::from_env_or_clock();
    let dir = ScratchDir::new("hostile-swap");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    // A root-only file outside the spool, in a root-owned directory.
    let outside = dir.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let secret = format!("root only {seed}\n");
    fs::write(outside.join("secret.txt"), &secret).unwrap();
    fs::set_permissions(
        outside.join("secret.txt"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let attacker_home = dir.path().join("attacker");
    fs::create_dir(&attacker_home).unwrap();
    give_to_nobody(&attacker_home);

    let daemon = JournalDaemon::start(dir.path(), &config(dir.path()));
    let incoming = daemon.incoming();
    let mut victims: Vec<(i32, Vec<u8>)> = Vec::new();
    for index in 0..VICTIMS {
        // Half inline in the journal, half in docs/ (over 64 KiB).
        let len = if index % 2 == 0 {
            rng.range(1, 20_000)
        } else {
            spool_files::LARGE_DOCUMENT as u64 + rng.range(0, 20_000)
        };
        let document = rng.bytes(len as usize);
        victims.push((daemon.submit_held(&document), document));
    }
    for (id, _) in &victims {
        assert_eq!(daemon.state(*id), Some(job_state::HELD), "job {id}");
    }
    let docs = daemon.spool.join("docs");
    let journal = daemon.spool.join("journal");
    let history = daemon.spool.join("history");
    let mut protected = vec![
        docs.clone(),
        journal.clone(),
        daemon.spool.clone(),
        outside.clone(),
    ];
    if history.is_dir() {
        protected.push(history.clone());
    }
    let before: Vec<_> = protected.iter().map(|d| snapshot(d)).collect();

    let victim_files: Vec<String> = victims.iter().map(|(id, _)| format!("{id}.doc")).collect();
    let segments: Vec<String> = before[1].keys().cloned().collect();
    assert!(!segments.is_empty(), "no journal segment");
    let aims = [
        (Aim::Docs, docs.clone(), victim_files),
        (Aim::Journal, journal.clone(), segments),
        (
            Aim::SpoolRoot,
            daemon.spool.clone(),
            [
                "journal", "docs", "history", "tmp", "corrupt", "lock", "format",
            ]
            .map(String::from)
            .to_vec(),
        ),
        (
            Aim::Outside,
            outside.clone(),
            vec!["secret.txt".to_string()],
        ),
    ];
    let mut damaged_rounds = Vec::new();
    // Rounds where the attacker swapped while the daemon was taking files.
    let mut hit_rounds = 0;
    let mut total_swaps = 0;
    let mut damage_so_far = 0;
    for index in 0..ROUNDS {
        let (aim, target, bait) = &aims[index % aims.len()];
        let round = prepare_round(&attacker_home, index, &mut rng, target, bait);
        let swaps = SwapCounter::new();
        let steps = attack_steps(&round, &incoming, index, &mut rng, swaps);
        let pid = spawn_as_nobody(&steps);
        let deadline = Instant::now() + ROUND_LIMIT;
        let mut attacker_done = false;
        while Instant::now() < deadline {
            if wait_child(pid, Duration::ZERO).is_some() {
                attacker_done = true;
                break;
            }
            if entries_left(&round.real) == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if !attacker_done {
            kill_child(pid);
        }
        if swaps.get() > 0 && entries_left(&round.real) < round.entries {
            hit_rounds += 1;
        }
        total_swaps += swaps.get();
        clear_round(&incoming);
        let _ = fs::remove_dir_all(&round.home);
        let now: usize = protected
            .iter()
            .zip(&before)
            .map(|(d, b)| damage(d, b).len())
            .sum();
        if now > damage_so_far {
            eprintln!("round {index} ({aim:?}): {now} protected entries changed so far");
            damaged_rounds.push(index);
            damage_so_far = now;
        }
    }
    eprintln!(
        "seed {seed}: {ROUNDS} rounds in {:?}; {total_swaps} swaps; {hit_rounds} rounds swapped \
         during the walk; rounds that did new damage: {damaged_rounds:?}",
        started.elapsed()
    );
    // An attack that never raced the daemon would prove nothing.
    assert!(
        hit_rounds >= ROUNDS / 3,
        "seed {seed}: only {hit_rounds} of {ROUNDS} rounds swapped while the daemon was walking"
    );

    // Whatever the daemon was doing with the last round, let it finish.
    assert!(
        wait_until(SETTLE, || fs::read_dir(&incoming)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false)),
        "the drop directory did not end empty"
    );
    let damage: Vec<String> = protected
        .iter()
        .zip(&before)
        .flat_map(|(d, b)| damage(d, b))
        .collect();
    assert!(
        damage.is_empty(),
        "seed {seed}: the attack changed files outside incoming/ (rounds {damaged_rounds:?}):\n{}\nlog tail:\n{}",
        damage.join("\n"),
        log_tail(&daemon.log_text(), 40)
    );
    let spool_dirs: Vec<PathBuf> = directories_in(&daemon.spool.join("rejected"));
    assert!(
        spool_dirs.is_empty(),
        "directories were moved into rejected/: {spool_dirs:?}"
    );
    let secret_hash = sha256_hex(secret.as_bytes());
    for segment in spool_files::journal_segments(&daemon.spool) {
        let bytes = fs::read(&segment).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the root-only file was copied into {}",
            segment.display()
        );
    }
    for place in [
        docs.clone(),
        history.clone(),
        dir.path().join("office-out"),
        dir.path().join("default-out"),
        daemon.spool.join("claimed"),
        daemon.spool.join("rejected"),
    ] {
        assert!(
            !hashes_under(&place).contains(&secret_hash),
            "the root-only file was copied into {}",
            place.display()
        );
    }

    // Every victim is still held, and prints byte-identical once released.
    for (id, document) in &victims {
        assert_eq!(
            daemon.state(*id),
            Some(job_state::HELD),
            "job {id} is no longer held"
        );
        assert_eq!(daemon.release(*id), status::OK, "Release-Job {id}");
        assert!(
            wait_until(SETTLE, || printed(dir.path(), *id).as_ref()
                == Some(document)),
            "job {id} did not print byte-identical; log tail:\n{}",
            log_tail(&daemon.log_text(), 40)
        );
    }
}

/// What the default queue's file backend wrote for job `id`
/// (`job-ID.EXT`, the extension following the detected format).
fn printed(dir: &Path, id: i32) -> Option<Vec<u8>> {
    let prefix = format!("job-{id}.");
    fs::read_dir(dir.join("default-out"))
        .ok()?
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .and_then(|e| fs::read(e.path()).ok())
}

fn log_tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ---------------------------------------------------------------------------
// Names that try to forge log lines.

#[test]
fn drop_directory_names_with_newlines_and_priorities_forge_no_log_line() {
    if !require_root("the forged-name attack (drops to nobody)") {
        return;
    }
    let dir = ScratchDir::new("hostile-names");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let attacker_home = dir.path().join("attacker");
    fs::create_dir(&attacker_home).unwrap();
    give_to_nobody(&attacker_home);
    let daemon = JournalDaemon::start(dir.path(), &config(dir.path()));
    let incoming = daemon.incoming();
    let forged = |what: &str| format!("x\n<0>FORGED {what}\r\n<2>FORGED again");
    let file = incoming.join(forged("file"));
    let unknown_dir = attacker_home.join(forged("dir"));
    let office = attacker_home.join("office");
    let steps = vec![
        Step::Write(c_path(&incoming.join(".part")), b"a forged name\n".to_vec()),
        Step::Rename {
            from: c_path(&incoming.join(".part")),
            to: c_path(&file),
        },
        Step::Write(
            c_path(&incoming.join("<0>FORGED at start")),
            b"x\n".to_vec(),
        ),
        Step::Symlink {
            target: c_path(Path::new("/etc/passwd")),
            link: c_path(&incoming.join(forged("link"))),
        },
        Step::Mkdir(c_path(&unknown_dir)),
        Step::Write(c_path(&unknown_dir.join(forged("inner"))), b"y\n".to_vec()),
        Step::Rename {
            from: c_path(&unknown_dir),
            to: c_path(&incoming.join(forged("dir"))),
        },
        Step::Mkdir(c_path(&office)),
        Step::Write(c_path(&office.join(forged("in office"))), b"z\n".to_vec()),
        Step::Rename {
            from: c_path(&office),
            to: c_path(&incoming.join("office")),
        },
    ];
    as_nobody(&steps);
    assert!(
        wait_until(SETTLE, || fs::read_dir(&incoming)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false)),
        "the drop directory did not end empty; log:\n{}",
        daemon.log_text()
    );
    // The daemon logs as it goes; the two files above became jobs.
    assert!(
        wait_until(SETTLE, || daemon
            .log_text()
            .matches("dropped file taken as a job")
            .count()
            >= 3),
        "the dropped files were not taken; log:\n{}",
        daemon.log_text()
    );
    let log = daemon.log_text();
    assert!(
        log.matches("FORGED").count() >= 5,
        "the names should appear (escaped) in the log:\n{log}"
    );
    for line in log.lines() {
        let priority = line
            .strip_prefix('<')
            .and_then(|rest| rest.split_once('>'))
            .map(|(n, _)| n);
        assert!(
            matches!(priority, Some("3" | "4" | "5" | "6" | "7")),
            "a line not written by the daemon's logger (forged, or an emergency):\n{line:?}\nlog:\n{log}"
        );
    }
}

// ---------------------------------------------------------------------------
// Recovery: things in the spool (layout 2) that are not what they should be.

/// A name in `corrupt/` and its `.reason`, if both are there.
fn quarantined(corrupt: &Path, name: &str) -> Option<(fs::Metadata, String)> {
    let meta = fs::symlink_metadata(corrupt.join(name)).ok()?;
    let reason = fs::read_to_string(corrupt.join(format!("{name}.reason"))).ok()?;
    Some((meta, reason))
}

fn corrupt_listing(corrupt: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(corrupt)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A root-only file outside the spool with `bytes`.
fn root_only_file(path: &Path, bytes: &[u8]) {
    fs::write(path, bytes).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn recovery_quarantines_fifos_and_symlinks_named_like_spool_files_and_damaged_documents() {
    if !require_root("the spool fault cases (FIFO, ownership)") {
        return;
    }
    let dir = ScratchDir::new("hostile-recovery");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let outside = dir.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let secret = outside.join("secret.txt");
    root_only_file(&secret, b"root only\n");
    let mut daemon = JournalDaemon::start(dir.path(), &config(dir.path()));
    let large = |tag: u8| -> Vec<u8> {
        (0..spool_files::LARGE_DOCUMENT)
            .map(|i| tag ^ (i % 251) as u8)
            .collect()
    };
    let kept_small = b"a small job that must survive\n".to_vec();
    let kept_large = large(1);
    let kept_small_id = daemon.submit_held(&kept_small);
    let kept_large_id = daemon.submit_held(&kept_large);
    let vanished_id = daemon.submit_held(&large(2));
    let truncated_id = daemon.submit_held(&large(3));
    let fifo_id = daemon.submit_held(&large(4));
    // Its document becomes a symlink to a copy with the very same bytes:
    // followed, the job would pass every check.
    let linked = large(5);
    let linked_id = daemon.submit_held(&linked);
    daemon.kill();

    let spool = daemon.spool.clone();
    let doc = |id: i32| spool_files::doc_path(&spool, id);
    for id in [kept_large_id, vanished_id, truncated_id, fifo_id, linked_id] {
        assert!(doc(id).is_file(), "job {id}'s document is not in docs/");
    }
    let decoy = outside.join("decoy.doc");
    root_only_file(&decoy, &linked);
    fs::remove_file(doc(vanished_id)).unwrap();
    File::options()
        .write(true)
        .open(doc(truncated_id))
        .unwrap()
        .set_len(1000)
        .unwrap();
    fs::remove_file(doc(fifo_id)).unwrap();
    mkfifo(&doc(fifo_id), 0o600);
    fs::remove_file(doc(linked_id)).unwrap();
    std::os::unix::fs::symlink(&decoy, doc(linked_id)).unwrap();

    // Journal segments: a FIFO opened blocking would hang start-up; a
    // symlink must not be read through.
    let last_seq = spool_files::journal_segments(&spool)
        .iter()
        .filter_map(|p| u64::from_str_radix(p.file_stem()?.to_str()?, 16).ok())
        .max()
        .expect("no journal segment");
    let fifo_segment = spool_files::segment_path(&spool, last_seq + 0x10);
    let linked_segment = spool_files::segment_path(&spool, last_seq + 0x11);
    mkfifo(&fifo_segment, 0o600);
    std::os::unix::fs::symlink(&secret, &linked_segment).unwrap();
    // History segments, where the history store looks for them.
    let history = spool.join("history");
    fs::create_dir_all(&history).unwrap();
    fs::set_permissions(&history, fs::Permissions::from_mode(0o700)).unwrap();
    let fifo_history = history.join("0000000001-0000000002.hist");
    let linked_history = history.join("0000000003-0000000004.hist");
    mkfifo(&fifo_history, 0o600);
    std::os::unix::fs::symlink(&secret, &linked_history).unwrap();
    let outside_before = snapshot(&outside);

    daemon.restart(dir.path());
    let corrupt = spool.join("corrupt");
    let listing = corrupt_listing(&corrupt);
    let log = daemon.log_text();
    let name = |path: &Path| path.file_name().unwrap().to_string_lossy().into_owned();

    // The odd segments: moved aside as what they are, with a reason.
    let (meta, reason) = quarantined(&corrupt, &name(&fifo_segment))
        .unwrap_or_else(|| panic!("the FIFO segment was not quarantined: {listing:?}\n{log}"));
    assert!(
        meta.file_type().is_fifo() && reason.contains("FIFO"),
        "{reason}"
    );
    let (meta, reason) = quarantined(&corrupt, &name(&linked_segment))
        .unwrap_or_else(|| panic!("the symlink segment was not quarantined: {listing:?}\n{log}"));
    assert!(
        meta.file_type().is_symlink() && reason.contains("symbolic link"),
        "{reason}"
    );
    assert!(!fifo_segment.exists() && fs::symlink_metadata(&linked_segment).is_err());
    for path in [&fifo_segment, &linked_segment] {
        assert!(
            log.contains(&name(path)) && log.contains("corrupt/"),
            "the log does not name {}:\n{log}",
            path.display()
        );
    }

    // Jobs whose document is not what the journal says: each one's meta
    // in corrupt/<id>.job, with a reason naming the document.
    for (id, why) in [
        (vanished_id, "cannot be opened"),
        (truncated_id, "1000 bytes"),
        (fifo_id, "not a regular file (a FIFO)"),
        (linked_id, "not a regular file (a symbolic link)"),
    ] {
        let (meta, reason) = quarantined(&corrupt, &format!("{id}.job"))
            .unwrap_or_else(|| panic!("job {id} was not set aside: {listing:?}\n{log}"));
        assert!(meta.is_file() && meta.len() > 0);
        let record = fs::read_to_string(corrupt.join(format!("{id}.job"))).unwrap();
        assert!(record.contains(&format!("\"id\":{id}")), "{record}");
        assert!(
            reason.contains(&format!("{id}.doc")) && reason.contains(why),
            "job {id}'s reason does not say {why:?}: {reason}"
        );
        assert_eq!(daemon.state(id), None, "job {id} is still served");
    }

    // History entries that are not segments: never read through, never
    // hung on; if moved, then into corrupt/ with a reason.
    for (path, fifo) in [(&fifo_history, true), (&linked_history, false)] {
        let kind = match fs::symlink_metadata(path) {
            Ok(meta) => meta.file_type(),
            Err(_) => quarantined(&corrupt, &name(path))
                .unwrap_or_else(|| panic!("{} vanished: {listing:?}", path.display()))
                .0
                .file_type(),
        };
        assert!(
            if fifo {
                kind.is_fifo()
            } else {
                kind.is_symlink()
            },
            "{} was replaced: {kind:?}",
            path.display()
        );
    }
    assert_eq!(
        snapshot(&outside),
        outside_before,
        "a symlink's target was touched"
    );

    // Nothing acknowledged lost: both good jobs are held and print whole.
    for (id, document) in [(kept_small_id, &kept_small), (kept_large_id, &kept_large)] {
        assert_eq!(daemon.state(id), Some(job_state::HELD), "job {id}");
        assert_eq!(daemon.release(id), status::OK);
        assert!(
            wait_until(SETTLE, || printed(dir.path(), id).as_ref()
                == Some(document)),
            "job {id} did not print byte-identical; log:\n{}",
            daemon.log_text()
        );
    }
    // And a new job still gets a fresh id.
    let new_id = daemon.submit_held(b"after recovery\n");
    assert!(new_id > linked_id, "id {new_id} reused");
}

/// A job's final state, waited for (`None` if it has none within SETTLE).
fn final_state(daemon: &JournalDaemon, id: i32) -> Option<i32> {
    let mut last = None;
    let done = wait_until(SETTLE, || {
        last = daemon.state(id);
        matches!(
            last,
            Some(job_state::COMPLETED | job_state::ABORTED | job_state::CANCELED)
        )
    });
    done.then_some(last).flatten()
}

#[test]
fn a_document_damaged_behind_the_running_daemon_never_prints_short() {
    if !require_root("the spool fault cases (FIFO, ownership)") {
        return;
    }
    let dir = ScratchDir::new("hostile-running");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let daemon = JournalDaemon::start(dir.path(), &config(dir.path()));
    let large = |tag: u8| -> Vec<u8> {
        (0..spool_files::LARGE_DOCUMENT)
            .map(|i| tag ^ (i % 241) as u8)
            .collect()
    };
    let kept = large(1);
    let kept_id = daemon.submit_held(&kept);
    let removed_id = daemon.submit_held(&large(2));
    let truncated_id = daemon.submit_held(&large(3));
    let fifo_id = daemon.submit_held(&large(4));
    let doc = |id: i32| spool_files::doc_path(&daemon.spool, id);
    fs::remove_file(doc(removed_id)).unwrap();
    File::options()
        .write(true)
        .open(doc(truncated_id))
        .unwrap()
        .set_len(1000)
        .unwrap();
    fs::remove_file(doc(fifo_id)).unwrap();
    mkfifo(&doc(fifo_id), 0o600);

    for id in [removed_id, truncated_id, fifo_id] {
        assert_eq!(daemon.release(id), status::OK, "Release-Job {id}");
        let state = final_state(&daemon, id);
        assert_ne!(
            state,
            Some(job_state::COMPLETED),
            "job {id} with a damaged document was reported printed"
        );
        assert!(
            state.is_some(),
            "job {id} never ended (a hang on its document?); log tail:\n{}",
            log_tail(&daemon.log_text(), 40)
        );
        assert_eq!(
            printed(dir.path(), id),
            None,
            "job {id}'s damaged document reached the printer"
        );
    }
    assert_eq!(daemon.release(kept_id), status::OK);
    assert!(
        wait_until(SETTLE, || printed(dir.path(), kept_id).as_ref()
            == Some(&kept)),
        "the intact job did not print; log:\n{}",
        daemon.log_text()
    );
}

// ---------------------------------------------------------------------------
// The spool root's own entries replaced by a FIFO or a symlink.

/// What is planted where the spool keeps one of its own entries.
#[derive(Debug, Clone, Copy)]
enum Plant {
    Fifo,
    /// A symlink to a copy outside the spool (with a sentinel file, for a
    /// directory): followed, the daemon would read or change the copy.
    Symlink,
}

/// Copies the regular files of `from` (flat) into a new directory `to`,
/// with a sentinel `keep.txt`.
fn copy_dir_with_sentinel(from: &Path, to: &Path) {
    fs::create_dir(to).unwrap();
    fs::set_permissions(to, fs::Permissions::from_mode(0o700)).unwrap();
    for entry in fs::read_dir(from).into_iter().flatten().flatten() {
        if entry.file_type().unwrap().is_file() {
            fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
    root_only_file(&to.join("keep.txt"), b"must stay\n");
}

/// Everything under `dir` (one level of subdirectories), as [`snapshot`]s.
fn deep_snapshot(dir: &Path) -> BTreeMap<String, BTreeMap<String, Seen>> {
    let mut all = BTreeMap::from([(String::new(), snapshot(dir))]);
    for entry in fs::read_dir(dir).unwrap().flatten() {
        if entry.file_type().unwrap().is_dir() {
            let name = entry.file_name().to_string_lossy().into_owned();
            all.insert(name, snapshot(&entry.path()));
        }
    }
    all
}

#[test]
fn the_spool_roots_own_entries_are_never_followed_or_hung_on() {
    if !require_root("the spool fault cases (FIFO, ownership)") {
        return;
    }
    let dir = ScratchDir::new("hostile-root-entries");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let mut daemon = JournalDaemon::start(dir.path(), &config(dir.path()));
    let small = b"a small held job\n".to_vec();
    let large: Vec<u8> = (0..spool_files::LARGE_DOCUMENT)
        .map(|i| (i % 239) as u8)
        .collect();
    let jobs = [
        (daemon.submit_held(&small), small),
        (daemon.submit_held(&large), large),
    ];
    daemon.kill();
    let spool = daemon.spool.clone();
    // Made if missing, so that every case has something real to replace.
    let history = spool.join("history");
    fs::create_dir_all(&history).unwrap();
    fs::set_permissions(&history, fs::Permissions::from_mode(0o700)).unwrap();
    let aside = dir.path().join("aside");
    fs::create_dir(&aside).unwrap();

    let cases = [
        ("format", Plant::Fifo),
        ("format", Plant::Symlink),
        ("lock", Plant::Fifo),
        ("lock", Plant::Symlink),
        ("tmp", Plant::Symlink),
        ("journal", Plant::Symlink),
        ("journal", Plant::Fifo),
        ("docs", Plant::Symlink),
        ("corrupt", Plant::Symlink),
        ("history", Plant::Symlink),
    ];
    for (index, (name, plant)) in cases.into_iter().enumerate() {
        let entry = spool.join(name);
        let real = aside.join(name);
        fs::rename(&entry, &real).unwrap();
        let outside = dir.path().join(format!("outside-{index}"));
        fs::create_dir(&outside).unwrap();
        match plant {
            Plant::Fifo => mkfifo(&entry, 0o600),
            Plant::Symlink => {
                let copy = outside.join(name);
                if real.is_dir() {
                    copy_dir_with_sentinel(&real, &copy);
                } else {
                    fs::copy(&real, &copy).unwrap();
                }
                std::os::unix::fs::symlink(&copy, &entry).unwrap();
            }
        }
        let before = deep_snapshot(&outside);
        let started = JournalDaemon::launch(
            dir.path(),
            Arc::clone(&daemon.sockets),
            Duration::from_secs(10),
        );
        let log = daemon.log_text();
        match started {
            Ok(mut wrongly) => {
                wrongly.kill();
                panic!("the daemon started with {name} being a {plant:?}; log:\n{log}");
            }
            Err(e) => assert!(
                !e.contains("no READY=1"),
                "the daemon hung on {name} being a {plant:?}: {e}"
            ),
        }
        assert!(
            log_tail(&log, 5).contains(&spool.join(name).display().to_string()),
            "the refusal does not name {name}:\n{}",
            log_tail(&log, 5)
        );
        assert_eq!(
            deep_snapshot(&outside),
            before,
            "{name} being a {plant:?}: the daemon went through it"
        );
        fs::remove_file(&entry).unwrap();
        fs::rename(&real, &entry).unwrap();
    }

    // Put back, the spool is whole: every job held, printing byte-identical.
    daemon.restart(dir.path());
    for (id, document) in &jobs {
        assert_eq!(daemon.state(*id), Some(job_state::HELD), "job {id}");
        assert_eq!(daemon.release(*id), status::OK);
        assert!(
            wait_until(SETTLE, || printed(dir.path(), *id).as_ref()
                == Some(document)),
            "job {id} did not print byte-identical; log:\n{}",
            daemon.log_text()
        );
    }
}

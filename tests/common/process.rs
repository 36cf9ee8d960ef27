//! Child processes other than the daemon's start-up: commands bounded in
//! time, this test binary re-run as `nobody`, the environment a child must
//! not inherit, and who we are.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::fs::ScratchDir;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::process::Child;

/// Keeps variables a service manager may have set for the test runner from
/// changing how the daemon under test starts and logs.
pub fn scrub_service_manager_env(command: &mut Command) {
    for var in [
        "LISTEN_FDS",
        "LISTEN_PID",
        "LISTEN_FDNAMES",
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
        "WATCHDOG_PID",
        "JOURNAL_STREAM",
        "INVOCATION_ID",
    ] {
        command.env_remove(var);
    }
    command.env("NO_COLOR", "1");
}

/// Kills the child if the spawning test thread dies without dropping it
/// (the harness was killed), so no daemon outlives the test run.
pub fn die_with_parent(command: &mut Command) {
    // SAFETY: prctl is async-signal-safe; the closure touches nothing else.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// Runs `command` to completion, killing it after `timeout`. Returns the
/// exit status (None when killed) and stdout + stderr interleaved as
/// captured files (stdout first).
pub fn run_with_timeout(mut command: Command, timeout: Duration) -> (Option<ExitStatus>, String) {
    let scratch = ScratchDir::new("cmd");
    let out_path = scratch.path().join("out");
    let err_path = scratch.path().join("err");
    let out = File::create(&out_path).unwrap();
    let err = File::create(&err_path).unwrap();
    command.stdin(Stdio::null()).stdout(out).stderr(err);
    let program = format!("{:?}", command);
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let status = wait_for_exit(&mut child, timeout);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut text = String::from_utf8_lossy(&fs::read(&out_path).unwrap()).into_owned();
    let stderr = fs::read(&err_path).unwrap();
    if !stderr.is_empty() {
        text.push_str(&String::from_utf8_lossy(&stderr));
    }
    (status, text)
}

/// Fails with a clear message naming the Debian package when `program` is
/// not on PATH. Tests never skip: tests/run installs what is missing.
pub fn require_program(program: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{program}` not found on PATH: install Debian package {package} \
         (tests/run does this when run as root)"
    );
}

/// Runs `command` to completion like `Command::output`, but kills it and
/// fails the test if it takes longer than `limit`: a test never hangs.
/// Its stdin is whatever the caller set (inherited by default).
pub fn output_within(mut command: Command, limit: Duration) -> std::process::Output {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    die_with_parent(&mut command);
    let mut child = command.spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let err = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        bytes
    });
    let status = wait_for_exit(&mut child, limit);
    let finished = status.is_some();
    if !finished {
        let _ = child.kill();
        let _ = child.wait();
    }
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    assert!(
        finished,
        "{command:?} still running after {limit:?}; killed. stderr:\n{}",
        String::from_utf8_lossy(&stderr)
    );
    std::process::Output {
        status: status.unwrap(),
        stdout,
        stderr,
    }
}

/// This test binary again, as nobody:nogroup through `setpriv`, running
/// only its ignored `nobody_client` test with `PRINTSPOOLD_TEST_ACTION`
/// set to `action`: the unprivileged side of a test.
pub fn nobody_client_command(action: &str) -> Command {
    let mut command = Command::new("setpriv");
    command
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "nobody_client",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PRINTSPOOLD_TEST_ACTION", action);
    command
}

/// What follows `RESULT ` in a `nobody_client`'s output (the harness may
/// print before it on the same line); panics, showing both streams, when
/// there is none.
pub fn nobody_result(output: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|l| l.split_once("RESULT ").map(|(_, result)| result))
        .map(str::to_string)
        .unwrap_or_else(|| {
            panic!(
                "no RESULT from nobody:\n{stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
}

/// The login name of this process's user: what CUPS clients and ipptool
/// send as requesting-user-name.
pub fn current_user() -> String {
    // SAFETY: getpwuid returns a pointer into static storage or null; the
    // name is copied out before any other passwd call.
    unsafe {
        let entry = libc::getpwuid(libc::getuid());
        assert!(
            !entry.is_null(),
            "no passwd entry for uid {}",
            libc::getuid()
        );
        std::ffi::CStr::from_ptr((*entry).pw_name)
            .to_string_lossy()
            .into_owned()
    }
}

/// Waits for `child` to exit, up to `timeout`, on its pidfd.
pub fn wait_for_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let pidfd = pidfd(child);
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        poll_readable(&[pidfd.as_fd()], left);
    }
}

/// A pidfd for `child`: readable once it exits.
pub fn pidfd(child: &Child) -> OwnedFd {
    use rustix::process::{Pid, PidfdFlags, pidfd_open};
    let pid = Pid::from_child(child);
    pidfd_open(pid, PidfdFlags::empty()).unwrap_or_else(|e| panic!("pidfd_open({pid:?}): {e}"))
}

/// Blocks until one of `fds` is readable or `timeout` passes.
pub fn poll_readable(fds: &[BorrowedFd<'_>], timeout: Duration) {
    let mut polled: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let millis = i32::try_from(timeout.as_millis().max(1)).unwrap_or(i32::MAX);
    // SAFETY: `polled` is a valid array of `polled.len()` pollfds whose
    // descriptors stay open for the call (borrowed). EINTR is a wake-up
    // like any other: the caller checks its conditions again.
    unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, millis) };
}

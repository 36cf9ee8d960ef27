//! End-to-end tests of [`daemonize`]: the test binary re-executes itself
//! in a child mode (see [`child_process_entry_point`]), the child
//! daemonizes for real, and the test inspects the daemon through /proc.
//!
//! [`daemonize`]: crate::sysv::daemonize

use std::fs;
use std::os::fd::{IntoRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::*;
use crate::test_support::{TempDir, wait_until};

const MODE_ENV: &str = "PRINTSPOOLD_SYSV_TEST_MODE";
const DIR_ENV: &str = "PRINTSPOOLD_SYSV_TEST_DIR";
const USER_ENV: &str = "PRINTSPOOLD_SYSV_TEST_USER";
const ENTRY_POINT: &str = "sysv::tests::child_process_entry_point";

/// Not a test on its own: the body of the re-executed test binary, and a
/// no-op in a normal run. Modes: "ready" reports success and waits for a
/// `release` file; "fail" reports status 6 with a message; "die" exits
/// without reporting.
#[test]
fn child_process_entry_point() {
    let (Ok(mode), Some(dir)) = (std::env::var(MODE_ENV), std::env::var_os(DIR_ENV)) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let user = std::env::var(USER_ENV).ok();
    // libtest runs this on a second thread, and daemonize wants a single
    // thread: a fork gives one. This process waits and passes the status on.
    // SAFETY: the other libtest thread is parked waiting for this test.
    match unsafe { libc::fork() } {
        -1 => steps::exit_immediately(90),
        0 => {}
        original => {
            fs::write(dir.join("original.pid"), original.to_string()).unwrap();
            let mut status = 0;
            // SAFETY: waiting for our own child.
            unsafe { libc::waitpid(original, &mut status, 0) };
            let code = if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                91
            };
            steps::exit_immediately(u8::try_from(code).unwrap_or(92));
        }
    }
    // Two descriptors the daemon inherits: one spared, one to be closed.
    let kept = fs::File::create(dir.join("kept")).unwrap().into_raw_fd();
    let _leaked: RawFd = fs::File::create(dir.join("leaked")).unwrap().into_raw_fd();
    let options = DaemonizeOptions {
        pid_file: Some(dir.join("printspoold.pid")),
        user,
        keep_fds: vec![kept],
    };
    let ready = match daemonize(&options) {
        Ok(ready) => ready,
        Err(error) => {
            eprintln!("daemonize: {error}");
            steps::exit_immediately(93);
        }
    };
    match mode.as_str() {
        "ready" => {
            // /proc/<pid>/environ shows the environment as it was at exec,
            // so the daemon writes down what it has now.
            let environment: Vec<String> = std::env::vars_os()
                .map(|(name, value)| format!("{}={}", name.display(), value.display()))
                .collect();
            fs::write(dir.join("environment"), environment.join("\n")).unwrap();
            let pid_file = ready.report(0, None);
            wait_until(10, || dir.join("release").exists());
            drop(pid_file);
            steps::exit_immediately(0)
        }
        "fail" => {
            let _ = ready.report(6, Some("configuration is broken\nsee line 3"));
            steps::exit_immediately(6)
        }
        _ => steps::exit_immediately(3),
    }
}

struct ChildRun {
    status: Option<i32>,
    stderr: String,
}

/// Runs the entry point in `mode` and waits (at most 10 s) for the original
/// process to exit.
fn run_child(mode: &str, dir: &Path, user: Option<&str>) -> ChildRun {
    let stderr_path = dir.join("stderr");
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([ENTRY_POINT, "--exact", "--nocapture", "--test-threads=1"])
        .env_clear()
        .env(MODE_ENV, mode)
        .env(DIR_ENV, dir)
        // Step 4 must keep the locale and time zone and drop the rest.
        .env("LANG", "C.UTF-8")
        .env("LC_TIME", "C")
        .env("TZ", "UTC")
        .env("NOTIFY_SOCKET", "/run/systemd/notify")
        .env("LD_PRELOAD", "")
        .env("HOME", "/root")
        .env("PATH", "/tmp/evil:/usr/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&stderr_path).unwrap());
    if let Some(user) = user {
        command.env(USER_ENV, user);
    }
    let mut child = command.spawn().unwrap();
    let mut status = None;
    let exited = wait_until(10, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the original process did not exit within 10 s");
    }
    ChildRun {
        status: status.and_then(|status| status.code()),
        stderr: fs::read_to_string(stderr_path).unwrap(),
    }
}

/// A directory any user may write, for a daemon that dropped to `nobody`.
fn shared_dir() -> TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("sysv");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

fn read_number(path: &Path) -> i32 {
    fs::read_to_string(path).unwrap().trim().parse().unwrap()
}

/// Fields of /proc/<pid>/stat after the command name: (ppid, session, tty_nr).
fn proc_stat(pid: i32) -> (i32, i32, i32) {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<i32> = after_comm
        .split(' ')
        .skip(1)
        .take(5)
        .map(|field| field.parse().unwrap())
        .collect();
    (fields[0], fields[2], fields[3])
}

fn proc_status_line(pid: i32, key: &str) -> String {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|line| line.starts_with(key)).unwrap();
    line[key.len()..].trim().to_owned()
}

/// The environment the daemon wrote down (see the "ready" mode).
fn environment_of_daemon(dir: &Path) -> Vec<String> {
    let text = fs::read_to_string(dir.join("environment")).unwrap();
    text.lines().map(str::to_owned).collect()
}

fn open_fds_of(pid: i32) -> Vec<(i32, PathBuf)> {
    let mut fds: Vec<(i32, PathBuf)> = fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let fd = entry.file_name().to_str().unwrap().parse().unwrap();
            (fd, fs::read_link(entry.path()).unwrap())
        })
        .collect();
    fds.sort();
    fds
}

#[test]
fn daemonize_runs_the_sysv_steps() {
    let dir = shared_dir();
    // SAFETY: a getter.
    let as_root = unsafe { libc::geteuid() } == 0;
    let nobody = lookup_user("nobody").ok().filter(|_| as_root);
    let run = run_child(
        "ready",
        dir.path(),
        nobody.as_ref().map(|account| account.name.as_str()),
    );
    let release = || fs::write(dir.path().join("release"), "").unwrap();

    assert_eq!(run.status, Some(0), "stderr: {}", run.stderr);
    assert_eq!(run.stderr, "");
    let original = read_number(&dir.path().join("original.pid"));
    let pid_file = dir.path().join("printspoold.pid");
    let daemon = read_number(&pid_file);
    assert_ne!(daemon, original);

    let (ppid, session, tty) = proc_stat(daemon);
    // Steps 5-8: re-parented away from the original process, in a session
    // of its own (created by the intermediate child, so the daemon is not
    // its leader) and without a controlling terminal.
    assert_ne!(ppid, original);
    assert_ne!(session, daemon);
    // SAFETY: a getter.
    assert_ne!(session, unsafe { libc::getsid(0) });
    assert_eq!(tty, 0);
    // Step 10 and 11.
    assert_eq!(proc_status_line(daemon, "Umask:"), "0000");
    assert_eq!(
        fs::read_link(format!("/proc/{daemon}/cwd")).unwrap(),
        Path::new("/")
    );
    // Steps 1, 9 and 12: /dev/null on 0-2, the spared descriptor, the PID
    // file, and nothing else (the leaked file and the pipe are closed).
    let fds = open_fds_of(daemon);
    let paths: Vec<&Path> = fds.iter().map(|(_, path)| path.as_path()).collect();
    assert_eq!(&paths[..3], [Path::new("/dev/null"); 3]);
    let mut rest: Vec<&Path> = paths[3..].to_vec();
    rest.sort();
    assert_eq!(rest, [dir.path().join("kept"), pid_file.clone()], "{fds:?}");
    // Step 4.
    let environment = environment_of_daemon(dir.path());
    let mut environment = environment;
    environment.sort();
    let path = format!("PATH={SAFE_PATH}");
    assert_eq!(
        environment,
        ["LANG=C.UTF-8", "LC_TIME=C", path.as_str(), "TZ=UTC"]
    );
    // Step 13, when we can test it.
    if let Some(nobody) = &nobody {
        let ids = |id: u32| [id; 4].map(|id| id.to_string()).join("\t");
        assert_eq!(proc_status_line(daemon, "Uid:"), ids(nobody.uid));
        assert_eq!(proc_status_line(daemon, "Gid:"), ids(nobody.gid));
        assert_eq!(proc_status_line(daemon, "CapEff:"), "0000000000000000");
    }

    // Shutdown: the guard removes the PID file.
    release();
    assert!(wait_until(5, || !pid_file.exists()), "pid file left behind");
}

#[test]
fn a_running_instance_stops_the_start() {
    let dir = shared_dir();
    let pid_file = dir.path().join("printspoold.pid");
    let me = std::process::id();
    let _running = write_pid_file(&pid_file, me).unwrap();

    let run = run_child("ready", dir.path(), None);
    fs::write(dir.path().join("release"), "").unwrap();

    assert_eq!(run.status, Some(1), "stderr: {}", run.stderr);
    assert_eq!(
        run.stderr,
        format!(
            "printspoold: printspoold is already running as PID {me} (pid file {})\n",
            pid_file.display()
        )
    );
    assert_eq!(read_number(&pid_file), me as i32);
}

#[test]
fn a_failure_report_reaches_the_caller() {
    let dir = shared_dir();
    let run = run_child("fail", dir.path(), None);
    assert_eq!(run.status, Some(6), "stderr: {}", run.stderr);
    assert_eq!(
        run.stderr,
        "printspoold: configuration is broken see line 3\n"
    );
    assert!(
        !dir.path().join("printspoold.pid").exists(),
        "failed start left its pid file"
    );
}

#[test]
fn a_daemon_dying_silently_is_a_failure() {
    let dir = shared_dir();
    let run = run_child("die", dir.path(), None);
    assert_eq!(run.status, Some(1), "stderr: {}", run.stderr);
    assert!(
        run.stderr.contains("without reporting a status"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_unknown_user_is_not_configured() {
    let dir = shared_dir();
    let run = run_child("ready", dir.path(), Some("no-such-user-printspoold"));
    assert_eq!(run.status, Some(6), "stderr: {}", run.stderr);
    assert!(run.stderr.contains("does not exist"), "{}", run.stderr);
    assert!(!dir.path().join("printspoold.pid").exists());
}

#[test]
fn threads_are_refused_before_anything_changes() {
    // The test harness has at least two threads.
    let cwd = std::env::current_dir().unwrap();
    let error = daemonize(&DaemonizeOptions::default()).unwrap_err();
    assert!(matches!(error, SysvError::ThreadsRunning { .. }), "{error}");
    assert_eq!(error.exit(), Exit::Failure);
    assert_eq!(std::env::current_dir().unwrap(), cwd);
}

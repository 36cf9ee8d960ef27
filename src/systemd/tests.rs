//! The environment readers against the real thing: `systemd-socket-activate`
//! binds a socket and starts the re-executed test binary the way a
//! `.socket` unit starts a service, and the child reports what it got.

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{Notifier, take_listen_fds};
use crate::test_support::{TempDir, wait_until};

const DIR_ENV: &str = "PRINTSPOOLD_SYSTEMD_TEST_DIR";
const ENTRY_POINT: &str = "systemd::tests::child_process_entry_point";
const ACTIVATOR: &str = "/usr/bin/systemd-socket-activate";

/// Not a test on its own: the body of the process systemd-socket-activate
/// starts, and a no-op in a normal run. Writes what it received to
/// `<dir>/result`, one `key=value` per line, and sends READY=1.
#[test]
fn child_process_entry_point() {
    let Some(dir) = std::env::var_os(DIR_ENV) else {
        return;
    };
    let fds = take_listen_fds();
    let notifier = Notifier::from_env();
    let mut lines = Vec::new();
    match &fds {
        Ok(fds) => {
            lines.push(format!("count={}", fds.len()));
            for (fd, name) in fds {
                lines.push(format!("fd={} name={name}", fd.as_raw_fd()));
                lines.push(format!("cloexec={}", is_cloexec(fd)));
                lines.push(format!("listening={}", is_listening(fd)));
            }
        }
        Err(error) => lines.push(format!("error={error}")),
    }
    let left: Vec<String> = std::env::vars()
        .map(|(name, _)| name)
        .filter(|name| {
            name.starts_with("LISTEN_") || name.starts_with("WATCHDOG_") || name == "NOTIFY_SOCKET"
        })
        .collect();
    lines.push(format!("left={}", left.join(",")));
    lines.push(format!("active={}", notifier.is_active()));
    lines.push(format!("watchdog={:?}", notifier.watchdog_interval()));
    fs::write(Path::new(&dir).join("result"), lines.join("\n")).unwrap();
    notifier.ready();
}

fn is_cloexec(fd: &OwnedFd) -> bool {
    // SAFETY: reading the flags of a descriptor we own.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    flags != -1 && flags & libc::FD_CLOEXEC != 0
}

fn is_listening(fd: &OwnedFd) -> bool {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: SO_ACCEPTCONN writes one int through valid pointers.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    rc == 0 && value == 1
}

#[test]
fn socket_activation_and_notification_for_real() {
    if !Path::new(ACTIVATOR).exists() {
        eprintln!("skipped: {ACTIVATOR} is missing (apt-get install systemd)");
        return;
    }
    let dir = TempDir::new("activate");
    let socket = dir.path().join("ipp.sock");
    let notify = dir.path().join("notify.sock");
    let receiver = UnixDatagram::bind(&notify).unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();

    let mut activator = Command::new(ACTIVATOR)
        .arg(format!("--listen={}", socket.display()))
        .arg("--fdname=ipp")
        .arg(format!("--setenv={DIR_ENV}={}", dir.path().display()))
        .arg(format!("--setenv=NOTIFY_SOCKET={}", notify.display()))
        .arg("--setenv=WATCHDOG_USEC=4000000")
        .arg(std::env::current_exe().unwrap())
        .args([ENTRY_POINT, "--exact", "--nocapture", "--test-threads=1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // systemd-socket-activate starts the service on the first connection.
    assert!(wait_until(5, || socket.exists()), "socket never bound");
    let _client = UnixStream::connect(&socket).unwrap();
    let mut buffer = [0u8; 64];
    let ready = receiver.recv(&mut buffer);
    let exited = wait_until(5, || activator.try_wait().unwrap().is_some());
    if !exited {
        let _ = activator.kill();
        let _ = activator.wait();
    }

    assert_eq!(&buffer[..ready.unwrap()], b"READY=1");
    let result = fs::read_to_string(dir.path().join("result")).unwrap();
    assert_eq!(
        result,
        "count=1\nfd=3 name=ipp\ncloexec=true\nlistening=true\nleft=\nactive=true\nwatchdog=Some(2s)"
    );
    assert!(exited, "the activated child did not exit");
}

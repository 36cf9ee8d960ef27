//! Verified and claimed identities, end to end (issue 12, items 2 and 3).
//!
//! One real `printspoold` serves IPP over TCP and over a Unix socket, D-Bus
//! on a private `dbus-daemon`, and its drop directory. Its stderr is a file
//! that `JOURNAL_STREAM` names, so it logs in the journal style (`<N>`
//! prefixes) and every test can check that no line was forged. Root is the
//! test process; the unprivileged side is this test binary run again as
//! `nobody` through `setpriv` (`nobody_client`).

mod common;

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use printspoold::sources::dbus::BUS_NAME;
use zbus::Proxy;
use zbus::zvariant::{Fd, OwnedValue, Value};

use common::bus::*;
use common::ipp::Value as IppValue;
use common::*;

/// Longest wait for anything here (a start, a job, a child).
const WAIT: Duration = Duration::from_secs(10);

const FORBIDDEN: u16 = 0x0401;
const NOT_AUTHORIZED: u16 = 0x0403;

const PAUSE_PRINTER: u16 = 0x0010;

const QUEUE_PATH: &str = "/printers/default";

// ---------------------------------------------------------------------------
// The daemon on every entry path, logging in the journal style.

struct IdentityDaemon {
    child: Child,
    _notifications: Notifications,
    _sockets: PassedSockets,
    addr: SocketAddr,
    socket: PathBuf,
    spool: PathBuf,
    log: PathBuf,
    bus: String,
}

impl IdentityDaemon {
    /// Starts the daemon and waits for READY=1, which it sends once it owns
    /// its bus name, requested last (so TCP, the Unix socket and the drop
    /// directory are up).
    async fn start(dir: &Path, bus: &DbusTestBus, extra_args: &[&str]) -> IdentityDaemon {
        IdentityDaemon::start_with_config(dir, bus, extra_args, "").await
    }

    /// [`IdentityDaemon::start`] with `config_text` as the configuration file.
    async fn start_with_config(
        dir: &Path,
        bus: &DbusTestBus,
        extra_args: &[&str],
        config_text: &str,
    ) -> IdentityDaemon {
        let config = dir.join("printspoold.toml");
        fs::write(&config, config_text).unwrap();
        let socket = dir.join("ipp.sock");
        let sockets = PassedSockets::tcp_and_unix(&socket);
        let log = dir.join("daemon.log");
        let stderr = File::create(&log).unwrap();
        let meta = stderr.metadata().unwrap();
        let mut launch = ServiceLaunch::new(DAEMON, Some(&sockets), dir);
        launch
            .command()
            .arg("--config")
            .arg(&config)
            .arg("--spool-dir")
            .arg(dir.join("spool"))
            .arg("--session-bus")
            .args(extra_args)
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            // stderr is "the journal": the daemon picks the `<N>` style.
            .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let service = launch.spawn(WAIT).unwrap_or_else(|e| {
            let text = String::from_utf8_lossy(&fs::read(&log).unwrap_or_default()).into_owned();
            panic!("printspoold never became ready: {e}; log:\n{text}")
        });
        let mut daemon = IdentityDaemon {
            child: service.child,
            _notifications: service.notifications,
            addr: sockets.addr(),
            _sockets: sockets,
            socket,
            spool: dir.join("spool"),
            log,
            bus: bus.address.clone(),
        };
        assert!(
            daemon.owns_name().await,
            "READY=1 without {BUS_NAME}; log:\n{}",
            daemon.log_text()
        );
        daemon
    }

    async fn owns_name(&mut self) -> bool {
        wait_for_name(&self.bus, &mut self.child, WAIT).await
    }

    /// The service object, called as root.
    async fn proxy(&self) -> Proxy<'static> {
        service_proxy(&connect_to(&self.bus).await).await
    }

    fn log_text(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    fn queue_uri(&self) -> String {
        format!("ipp://{}{QUEUE_PATH}", self.addr)
    }

    /// IPP over TCP: `requesting-user-name` is only a claim.
    fn tcp(&self, ipp: &[u8]) -> IppResponse {
        ipp_call(self.addr, QUEUE_PATH, ipp)
    }

    /// IPP over the Unix socket as root (this process).
    fn unix_as_root(&self, ipp: &[u8]) -> IppResponse {
        let response = post_unix(&self.socket, QUEUE_PATH, ipp, WAIT).unwrap();
        assert_eq!(response.status, 200);
        response.ipp()
    }

    /// IPP over the Unix socket as nobody.
    fn unix_as_nobody(&self, ipp: &[u8]) -> IppResponse {
        let mut env = HashMap::new();
        env.insert("PRINTSPOOLD_TEST_SOCKET", self.socket.display().to_string());
        let hex = run_as_nobody("relay", &env, &post_request("localhost", QUEUE_PATH, ipp));
        let bytes = from_hex(&hex);
        let response = read_response(&mut &bytes[..]).unwrap();
        assert_eq!(response.status, 200);
        response.ipp()
    }

    /// D-Bus `ListJobs all` as nobody: `id name owner` per job, `-` for a
    /// value left out.
    fn list_jobs_as_nobody(&self) -> Vec<String> {
        let mut env = HashMap::new();
        env.insert("PRINTSPOOLD_TEST_BUS", self.bus.clone());
        let result = run_as_nobody("list-jobs", &env, b"");
        result
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Every stderr line must start with a `<N>` the daemon wrote: no
    /// value ever began a line of its own.
    fn assert_no_forged_line(&self) {
        let log = self.log_text();
        for line in log.lines() {
            let prefix = line.as_bytes();
            assert!(
                prefix.len() >= 3
                    && prefix[0] == b'<'
                    && (b'0'..=b'7').contains(&prefix[1])
                    && prefix[2] == b'>',
                "a line without the daemon's own prefix: {line:?}\n{log}"
            );
            assert!(!line.starts_with("<0>"), "forged emergency line: {line:?}");
        }
    }
}

impl Drop for IdentityDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

// ---------------------------------------------------------------------------
// The unprivileged side.

/// Runs `nobody_client` as nobody:nogroup with `action`, `input` on its
/// stdin; returns what follows `RESULT ` in its output (the harness may
/// print before it on the same line).
fn run_as_nobody(action: &str, env: &HashMap<&str, String>, input: &[u8]) -> String {
    let (stdin, mut feed) = std::io::pipe().unwrap();
    let input = input.to_vec();
    // A thread, so an input larger than the pipe cannot block the test.
    let feeder = std::thread::spawn(move || feed.write_all(&input));
    let mut command = nobody_client_command(action);
    command.envs(env).stdin(stdin);
    let output = output_within(command, WAIT);
    feeder.join().unwrap().unwrap();
    nobody_result(&output)
}

/// The client half of the tests above, run as nobody by `run_as_nobody`.
/// On its own it does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run as nobody by the tests in this file"]
async fn nobody_client() {
    let Ok(action) = std::env::var("PRINTSPOOLD_TEST_ACTION") else {
        return;
    };
    let result = match action.as_str() {
        "relay" => {
            let socket = std::env::var("PRINTSPOOLD_TEST_SOCKET").unwrap();
            let mut request = Vec::new();
            std::io::stdin().read_to_end(&mut request).unwrap();
            let mut stream = UnixStream::connect(socket).unwrap();
            stream.set_read_timeout(Some(WAIT)).unwrap();
            stream.write_all(&request).unwrap();
            let mut response = Vec::new();
            stream.read_to_end(&mut response).unwrap();
            to_hex(&response)
        }
        "list-jobs" => {
            let address = std::env::var("PRINTSPOOLD_TEST_BUS").unwrap();
            let proxy = service_proxy(&connect_to(&address).await).await;
            let jobs: Vec<JobProperties> = proxy.call("ListJobs", &("all",)).await.unwrap();
            jobs.iter()
                .map(|job| {
                    let id = u32::try_from(job["id"].clone()).unwrap();
                    format!("{id} {} {}", text(job, "name"), text(job, "owner"))
                })
                .collect::<Vec<_>>()
                .join(",")
        }
        other => panic!("unknown action {other:?}"),
    };
    println!("RESULT {result}");
}

// ---------------------------------------------------------------------------
// Requests.

type JobProperties = HashMap<String, OwnedValue>;

/// A string value of a job dictionary, `-` when absent.
fn text(dict: &JobProperties, key: &str) -> String {
    dict.get(key)
        .map(|v| String::try_from(v.clone()).unwrap())
        .unwrap_or_else(|| "-".to_string())
}

fn job_request(operation: u16, uri: &str, user: &str, id: i32) -> Vec<u8> {
    operation_as(operation, 7, uri, user)
        .attr("job-id", IppValue::Integer(id))
        .encode()
}

fn print_request(uri: &str, user: &str, name: &str) -> Vec<u8> {
    print_job_as(user, uri, name, "text/plain", b"identity test\n", false)
}

fn pause_request(uri: &str, user: &str) -> Vec<u8> {
    operation_as(PAUSE_PRINTER, 8, uri, user).encode()
}

/// Get-Jobs `all` asking for ids, names and owners.
fn get_jobs_request(uri: &str, user: &str) -> Vec<u8> {
    operation_as(op::GET_JOBS, 9, uri, user)
        .attr("which-jobs", IppValue::Keyword("all".into()))
        .attr("requested-attributes", IppValue::Keyword("job-id".into()))
        .also(IppValue::Keyword("job-name".into()))
        .also(IppValue::Keyword("job-originating-user-name".into()))
        .encode()
}

/// Every value of every attribute called `name` (one per job group).
fn all_strings(response: &IppResponse, name: &str) -> Vec<String> {
    let mut values: Vec<String> = response
        .attributes
        .iter()
        .filter(|a| a.name == name)
        .flat_map(|a| &a.values)
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .collect();
    values.sort();
    values
}

fn created_id(response: &IppResponse) -> i32 {
    assert_eq!(response.status, status::OK, "{response:?}");
    response.integer("job-id").unwrap()
}

fn state_of(spooler: &IdentityDaemon, id: i32) -> i32 {
    let response = spooler.unix_as_root(&job_request(
        op::GET_JOB_ATTRIBUTES,
        &spooler.queue_uri(),
        "root",
        id,
    ));
    response.integer("job-state").unwrap()
}

async fn submit_over_dbus(proxy: &Proxy<'_>, dir: &Path, title: &str) -> u32 {
    let path = dir.join("dbus-document.txt");
    fs::write(&path, b"over D-Bus\n").unwrap();
    let file = File::open(&path).unwrap();
    let options: HashMap<&str, Value<'_>> = HashMap::new();
    proxy
        .call("SubmitJob", &("", title, Fd::from(&file), options))
        .await
        .unwrap()
}

/// Drops a file owned by root; returns the job the daemon made of it.
async fn submit_by_drop(spooler: &IdentityDaemon, proxy: &Proxy<'_>) -> u32 {
    let incoming = spooler.spool.join("incoming");
    let temp = incoming.join(".dropped.txt.part");
    fs::write(&temp, b"through the drop directory\n").unwrap();
    fs::rename(&temp, incoming.join("dropped.txt")).unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let jobs: Vec<JobProperties> = proxy.call("ListJobs", &("all",)).await.unwrap();
        if let Some(job) = jobs.iter().find(|j| text(j, "origin") == "drop-dir") {
            return u32::try_from(job["id"].clone()).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the dropped file made no job; log:\n{}",
            spooler.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What every test here starts from: when it can run here (root, the
/// tools installed), a scratch directory nobody can reach into (for the
/// Unix socket) and an open private bus in it.
fn bus_in_scratch(test: &str, label: &str) -> Option<(ScratchDir, DbusTestBus)> {
    if !require_root(test) {
        return None;
    }
    require_program("setpriv", "util-linux");
    require_program("dbus-daemon", "dbus");
    let dir = ScratchDir::new(label);
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let bus = DbusTestBus::open(dir.path());
    Some((dir, bus))
}

// ---------------------------------------------------------------------------
// Tests.

/// A TCP request claiming "root" is refused on root's Unix-socket, D-Bus
/// and drop-directory jobs; the owner over the Unix socket may act on its
/// job; a verified administrator may act on anyone's job and pause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claimed_root_cannot_touch_verified_jobs_but_owners_and_admins_can() {
    let Some((dir, bus)) = bus_in_scratch(
        "a_claimed_root_cannot_touch_verified_jobs_but_owners_and_admins_can",
        "identity-acts",
    ) else {
        return;
    };
    let spooler = IdentityDaemon::start(dir.path(), &bus, &[]).await;
    let proxy = spooler.proxy().await;
    let uri = spooler.queue_uri();

    // Pausing is for verified administrators: a claim of root is refused.
    let refused = spooler.tcp(&pause_request(&uri, "root"));
    assert_eq!(refused.status, FORBIDDEN, "{refused:?}");
    let paused = spooler.unix_as_root(&pause_request(&uri, "anyone"));
    assert_eq!(paused.status, status::OK, "{paused:?}");

    // Root's jobs on the three verified paths, and nobody's on the socket.
    let by_socket = created_id(&spooler.unix_as_root(&print_request(&uri, "x", "root-unix")));
    let by_dbus = submit_over_dbus(&proxy, dir.path(), "root-dbus").await as i32;
    let by_drop = submit_by_drop(&spooler, &proxy).await as i32;
    let nobodys = created_id(&spooler.unix_as_nobody(&print_request(&uri, "x", "nobody-unix")));

    for (id, claimed) in [
        (by_socket, "root"),
        (by_dbus, "root"),
        (by_drop, "root"),
        (nobodys, "nobody"),
    ] {
        for operation in [op::HOLD_JOB, op::RELEASE_JOB, op::CANCEL_JOB] {
            let answer = spooler.tcp(&job_request(operation, &uri, claimed, id));
            assert_eq!(
                answer.status, NOT_AUTHORIZED,
                "TCP as {claimed}, operation {operation:#06x} on job {id}: {answer:?}"
            );
            let message = answer.string("status-message").unwrap_or_default();
            assert!(message.contains("claimed over the network"), "{message:?}");
        }
        assert_eq!(state_of(&spooler, id), job_state::PENDING, "job {id}");
    }

    // The owner over the Unix socket may (nobody is no administrator).
    for operation in [op::HOLD_JOB, op::RELEASE_JOB] {
        let answer = spooler.unix_as_nobody(&job_request(operation, &uri, "x", nobodys));
        assert_eq!(answer.status, status::OK, "{answer:?}");
    }
    // ... but not on root's job.
    let answer = spooler.unix_as_nobody(&job_request(op::CANCEL_JOB, &uri, "root", by_socket));
    assert_eq!(answer.status, FORBIDDEN, "{answer:?}");
    assert_eq!(state_of(&spooler, by_socket), job_state::PENDING);

    // A verified administrator may act on any job.
    let answer = spooler.unix_as_root(&job_request(op::CANCEL_JOB, &uri, "x", nobodys));
    assert_eq!(answer.status, status::OK, "{answer:?}");
    assert_eq!(state_of(&spooler, nobodys), job_state::CANCELED);
    for id in [by_socket, by_dbus] {
        let answer = spooler.unix_as_root(&job_request(op::HOLD_JOB, &uri, "x", id));
        assert_eq!(answer.status, status::OK, "{answer:?}");
        assert_eq!(state_of(&spooler, id), job_state::HELD);
    }
    let canceled: zbus::Result<()> = proxy.call("CancelJob", &(by_drop as u32,)).await;
    canceled.unwrap();
    assert_eq!(state_of(&spooler, by_drop), job_state::CANCELED);

    // Claims still act on claimed jobs of the same name, as before.
    let claimed = created_id(&spooler.tcp(&print_request(&uri, "mallory", "mallory-tcp")));
    let answer = spooler.tcp(&job_request(op::CANCEL_JOB, &uri, "eve", claimed));
    assert_eq!(answer.status, FORBIDDEN, "{answer:?}");
    let answer = spooler.tcp(&job_request(op::CANCEL_JOB, &uri, "mallory", claimed));
    assert_eq!(answer.status, status::OK, "{answer:?}");

    spooler.assert_no_forged_line();
}

/// Get-Jobs, `GET /` and D-Bus `ListJobs` show job names and owners of
/// others only to the owner and to administrators.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn others_see_jobs_without_names_or_owners() {
    let Some((dir, bus)) = bus_in_scratch(
        "others_see_jobs_without_names_or_owners",
        "identity-private",
    ) else {
        return;
    };
    let spooler = IdentityDaemon::start(dir.path(), &bus, &[]).await;
    let proxy = spooler.proxy().await;
    let uri = spooler.queue_uri();
    assert_eq!(
        spooler.unix_as_root(&pause_request(&uri, "x")).status,
        status::OK
    );

    let root_job = created_id(&spooler.unix_as_root(&print_request(&uri, "x", "root-secret")));
    let nobody_job =
        created_id(&spooler.unix_as_nobody(&print_request(&uri, "x", "nobody-secret")));
    let mallory_job = created_id(&spooler.tcp(&print_request(&uri, "mallory", "mallory-secret")));
    let mut all_ids = vec![root_job, nobody_job, mallory_job];
    all_ids.sort();

    let views = [
        (
            "mallory over TCP",
            spooler.tcp(&get_jobs_request(&uri, "mallory")),
            vec!["mallory-secret"],
            vec!["mallory"],
        ),
        (
            "root claimed over TCP",
            spooler.tcp(&get_jobs_request(&uri, "root")),
            vec![],
            vec![],
        ),
        (
            "nobody over the Unix socket",
            spooler.unix_as_nobody(&get_jobs_request(&uri, "x")),
            vec!["nobody-secret"],
            vec!["nobody"],
        ),
        (
            "root over the Unix socket",
            spooler.unix_as_root(&get_jobs_request(&uri, "x")),
            vec!["mallory-secret", "nobody-secret", "root-secret"],
            vec!["mallory", "nobody", "root"],
        ),
    ];
    for (who, answer, names, owners) in views {
        assert_eq!(answer.status, status::OK, "{who}: {answer:?}");
        let mut ids = answer.all_integers("job-id");
        ids.sort();
        assert_eq!(ids, all_ids, "{who} sees every job id");
        assert_eq!(all_strings(&answer, "job-name"), names, "{who}");
        assert_eq!(
            all_strings(&answer, "job-originating-user-name"),
            owners,
            "{who}"
        );
    }

    // The status page: over TCP it names nobody, so every value is withheld.
    let page = http_get_tcp(spooler.addr, "/");
    assert!(page.contains("withheld"), "{page}");
    for secret in ["root-secret", "nobody-secret", "mallory-secret", "mallory<"] {
        assert!(!page.contains(secret), "{secret} on the TCP page:\n{page}");
    }
    let page = http_get_unix(&spooler.socket, "/");
    for secret in ["root-secret", "nobody-secret", "mallory-secret"] {
        assert!(page.contains(secret), "root's page lacks {secret}:\n{page}");
    }

    // D-Bus: nobody sees its own job whole, the others without them.
    let mut seen = spooler.list_jobs_as_nobody();
    seen.sort();
    let mut expected = vec![
        format!("{root_job} - -"),
        format!("{nobody_job} nobody-secret nobody"),
        format!("{mallory_job} - -"),
    ];
    expected.sort();
    assert_eq!(seen, expected);
    let jobs: Vec<JobProperties> = proxy.call("ListJobs", &("all",)).await.unwrap();
    let mut names: Vec<String> = jobs.iter().map(|j| text(j, "name")).collect();
    names.sort();
    assert_eq!(names, ["mallory-secret", "nobody-secret", "root-secret"]);

    spooler.assert_no_forged_line();
}

/// `job_private_values = ["none"]` makes every job public, as CUPS's
/// `JobPrivateValues none`: the key reaches the running daemon.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_private_values_none_shows_every_name() {
    let Some((dir, bus)) = bus_in_scratch(
        "job_private_values_none_shows_every_name",
        "identity-public",
    ) else {
        return;
    };
    let config = "[server]\njob_private_values = [\"none\"]\n";
    let spooler = IdentityDaemon::start_with_config(dir.path(), &bus, &[], config).await;
    let uri = spooler.queue_uri();
    assert_eq!(
        spooler.unix_as_root(&pause_request(&uri, "x")).status,
        status::OK
    );
    created_id(&spooler.unix_as_root(&print_request(&uri, "x", "root-public")));
    let answer = spooler.tcp(&get_jobs_request(&uri, "mallory"));
    assert_eq!(answer.status, status::OK, "{answer:?}");
    assert_eq!(all_strings(&answer, "job-name"), ["root-public"]);
    assert_eq!(all_strings(&answer, "job-originating-user-name"), ["root"]);
}

/// A job name and a user name with newlines and `<0>`, over IPP: the
/// journal-style stderr gets no line of their making. The decoder refuses
/// control characters in names (so the request is refused and logged as
/// one line), and `<0>` without a newline stays inside the daemon's lines.
/// (The formatter's own escaping is unit-tested in `src/logging.rs`; raw
/// file names meet it in the drop-directory tests.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_never_forge_a_journal_line() {
    let Some((dir, bus)) =
        bus_in_scratch("hostile_names_never_forge_a_journal_line", "identity-logs")
    else {
        return;
    };
    let spooler = IdentityDaemon::start(dir.path(), &bus, &["--verbose"]).await;
    let proxy = spooler.proxy().await;
    let uri = spooler.queue_uri();

    let refused = spooler.tcp(&print_request(&uri, "evil\n<0>user", "x\n<0>forged"));
    assert_eq!(refused.status, status::BAD_REQUEST, "{refused:?}");
    assert!(
        refused
            .string("status-message")
            .is_some_and(|m| m.contains("forbids")),
        "{refused:?}"
    );
    let job = created_id(&spooler.tcp(&print_request(&uri, "evil<0>user", "x <0>forged")));
    let answer = spooler.tcp(&job_request(op::CANCEL_JOB, &uri, "evil<0>user", job));
    assert_eq!(answer.status, status::OK, "{answer:?}");
    let by_dbus = submit_over_dbus(&proxy, dir.path(), "x\n<0>forged over D-Bus").await;

    let log_has = |needle: &str| spooler.log_text().lines().any(|l| l.contains(needle));
    let wanted = [
        "holds a character its syntax forbids".to_string(),
        format!("job accepted id={job} printer=default owner=evil<0>user"),
        format!("id={job} by=evil<0>user"),
        format!("job accepted id={by_dbus} "),
    ];
    let found = wait_until(WAIT, || wanted.iter().all(|w| log_has(w)));
    let log = spooler.log_text();
    assert!(found, "expected {wanted:?} in the log:\n{log}");
    for needle in &wanted {
        let line = log.lines().find(|l| l.contains(needle.as_str())).unwrap();
        assert!(
            line.starts_with("<6>") || line.starts_with("<7>"),
            "{needle} is not inside an info or debug line: {line:?}"
        );
    }
    spooler.assert_no_forged_line();
}

/// A record written by the release before identities has no `identity`,
/// and that release had spool layout 1: the daemon migrates such a spool
/// and the record still loads, and counts as verified, so a claim never
/// gains rights over it (not even over a job that was in fact submitted
/// over TCP).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_from_before_identities_load_and_count_as_verified() {
    let Some((dir, bus)) = bus_in_scratch(
        "records_from_before_identities_load_and_count_as_verified",
        "identity-legacy",
    ) else {
        return;
    };
    let spooler = IdentityDaemon::start(dir.path(), &bus, &[]).await;
    let uri = spooler.queue_uri();
    let held =
        |user: &str, name: &str| print_job_as(user, &uri, name, "text/plain", b"legacy\n", true);
    let roots = created_id(&spooler.unix_as_root(&held("x", "root-legacy")));
    let mallorys = created_id(&spooler.tcp(&held("mallory", "mallory-legacy")));
    drop(spooler);

    rewrite_as_layout_1(&dir.path().join("spool"), &[roots, mallorys]);
    let spooler = IdentityDaemon::start(dir.path(), &bus, &[]).await;
    let uri = spooler.queue_uri();
    for (id, claimed) in [(roots, "root"), (mallorys, "mallory")] {
        assert_eq!(state_of(&spooler, id), job_state::HELD, "job {id} loaded");
        let answer = spooler.tcp(&job_request(op::RELEASE_JOB, &uri, claimed, id));
        assert_eq!(answer.status, NOT_AUTHORIZED, "{claimed}: {answer:?}");
    }
    // A verified administrator still manages both.
    for id in [roots, mallorys] {
        let answer = spooler.unix_as_root(&job_request(op::CANCEL_JOB, &uri, "x", id));
        assert_eq!(answer.status, status::OK, "{answer:?}");
    }
    spooler.assert_no_forged_line();
}

/// Replaces the (layout 2) spool by the layout-1 spool the release before
/// identities would have written with the same jobs `ids`: per job,
/// `jobs/<id>.job` (an envelope header line, then the core's JSON without
/// `identity`) and `jobs/<id>.doc`, plus `next-id`.
fn rewrite_as_layout_1(spool: &Path, ids: &[i32]) {
    let (opened, recovery) = printspoold::spool::Spool::open(spool, 1 << 30, |_| false).unwrap();
    let next_id = recovery.next_id;
    let mut jobs = Vec::new();
    for job in recovery.jobs {
        let job = job.unwrap();
        if ids.contains(&(job.id as i32)) {
            let document = opened.document(job.id).unwrap().read_all().unwrap();
            jobs.push((job.id, job.meta, document));
        }
    }
    assert_eq!(jobs.len(), ids.len(), "every job found in the spool");
    drop(opened);
    for layout_2 in ["journal", "docs", "history"] {
        let _ = fs::remove_dir_all(spool.join(layout_2));
    }
    fs::remove_file(spool.join("format")).unwrap();
    let records = spool.join("jobs");
    fs::create_dir(&records).unwrap();
    for (id, meta, document) in jobs {
        fs::write(records.join(format!("{id}.doc")), &document).unwrap();
        fs::write(
            records.join(format!("{id}.job")),
            legacy_record(id, &meta, &document),
        )
        .unwrap();
    }
    fs::write(spool.join("next-id"), format!("{next_id}\n")).unwrap();
}

/// A layout-1 record as the release before identities wrote it: the core's
/// JSON without `identity`, behind an envelope header with its length and
/// hash and the document's.
fn legacy_record(id: u32, meta: &[u8], document: &[u8]) -> Vec<u8> {
    let mut meta: serde_json::Value = serde_json::from_slice(meta).unwrap();
    assert!(
        meta.as_object_mut().unwrap().remove("identity").is_some(),
        "this release records identity: {meta}"
    );
    let meta = serde_json::to_vec(&meta).unwrap();
    let header = serde_json::json!({
        "format": 1,
        "id": id,
        "document": { "len": document.len(), "sha256": sha256_hex(document) },
        "meta_len": meta.len(),
        "meta_sha256": sha256_hex(&meta),
    });
    let mut record = serde_json::to_vec(&header).unwrap();
    record.push(b'\n');
    record.extend_from_slice(&meta);
    record
}

fn http_get_tcp(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    http_get(&mut stream, path)
}

fn http_get_unix(socket: &Path, path: &str) -> String {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    http_get(&mut stream, path)
}

fn http_get(stream: &mut (impl Read + Write), path: &str) -> String {
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
    let response = read_response(&mut BufReader::new(stream)).unwrap();
    assert_eq!(response.status, 200);
    String::from_utf8(response.body).unwrap()
}

//! The D-Bus activation source end to end: the real `printspoold` binary on
//! a private `dbus-daemon` (`--session-bus` with `DBUS_SESSION_BUS_ADDRESS`
//! pointing at it), real clients (zbus in this process as root, this test
//! binary re-run as `nobody` through `setpriv`), and IPP over TCP to the
//! same daemon. Also the shipped files of `dbus/`: the policy loaded into a
//! bus configured like Debian's system bus, the activation file used for a
//! real bus activation, the introspection XML against the running service.

mod common;

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use printspoold::sources::dbus::{BUS_NAME, INTERFACE, OBJECT_PATH};
use zbus::export::futures_core::Stream;
use zbus::fdo::DBusProxy;
use zbus::zvariant::{Fd, OwnedValue, Value};
use zbus::{Connection, MatchRule, MessageStream, Proxy};

use common::bus::*;
use common::*;

/// Longest wait for anything in these tests (a start, a job, a signal).
const WAIT: Duration = Duration::from_secs(10);

const NOT_PERMITTED: &str = "org.printspoold.Spooler1.Error.NotPermitted";
const UNREADABLE: &str = "org.printspoold.Spooler1.Error.UnreadableDocument";
const TOO_LARGE: &str = "org.printspoold.Spooler1.Error.DocumentTooLarge";

fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

// ---------------------------------------------------------------------------
// Bus policies (the private bus itself is `common::bus`).

/// Debian's system bus policy (system.conf): deny by default, holes
/// punched by each service's file. Used to test the shipped policy.
const SYSTEM_LIKE_POLICY: &str = r#"
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
"#;

// ---------------------------------------------------------------------------
// The daemon on that bus.

/// `printspoold --session-bus` on a private bus, killed on drop.
struct BusDaemon {
    child: Child,
    _notifications: Notifications,
    _sockets: PassedSockets,
    addr: SocketAddr,
    spool: PathBuf,
    log: PathBuf,
}

impl BusDaemon {
    /// Starts the daemon with `config` as its configuration file text and
    /// waits for READY=1, which it sends once it owns the bus name,
    /// requested last.
    async fn start(dir: &Path, bus: &DbusTestBus, config: &str) -> BusDaemon {
        let config_path = dir.join("printspoold.toml");
        fs::write(&config_path, config).unwrap();
        let sockets = PassedSockets::tcp();
        let log = dir.join("daemon.log");
        let mut launch = ServiceLaunch::new(DAEMON, Some(&sockets), dir);
        launch
            .command()
            .arg("--config")
            .arg(&config_path)
            .arg("--spool-dir")
            .arg(dir.join("spool"))
            .arg("--session-bus")
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .stdin(Stdio::null())
            .stderr(File::create(&log).unwrap());
        let service = launch.spawn(WAIT).unwrap_or_else(|e| {
            let text = fs::read_to_string(&log).unwrap_or_default();
            panic!("printspoold never became ready: {e}; log:\n{text}")
        });
        let mut daemon = BusDaemon {
            child: service.child,
            _notifications: service.notifications,
            addr: sockets.addr(),
            _sockets: sockets,
            spool: dir.join("spool"),
            log,
        };
        assert!(
            wait_for_name(&bus.address, &mut daemon.child, WAIT).await,
            "READY=1 without {BUS_NAME}; log:\n{}",
            daemon.log_text()
        );
        // The name comes last: IPP must already answer.
        assert!(
            TcpStream::connect(daemon.addr).is_ok(),
            "D-Bus name before IPP listener"
        );
        daemon
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn printed_file(&self, id: u32) -> PathBuf {
        let prefix = format!("job-{id}.");
        let dir = self.spool.join("printed");
        fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&prefix)
            })
            .unwrap_or_else(|| panic!("no {prefix}* in {}", dir.display()))
    }

    fn queue_uri(&self) -> String {
        format!("ipp://{}/printers/default", self.addr)
    }
}

impl Drop for BusDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running daemon on an open bus, and a root client.
struct DaemonOnBus {
    client: Connection,
    daemon: BusDaemon,
    bus: DbusTestBus,
    dir: ScratchDir,
}

impl DaemonOnBus {
    async fn start(label: &str, config: &str) -> DaemonOnBus {
        let dir = ScratchDir::new(label);
        let bus = DbusTestBus::open(dir.path());
        let daemon = BusDaemon::start(dir.path(), &bus, config).await;
        let client = bus.connect().await;
        DaemonOnBus {
            client,
            daemon,
            bus,
            dir,
        }
    }

    async fn proxy(&self) -> Proxy<'static> {
        service_proxy(&self.client).await
    }

    fn file(&self, name: &str, bytes: &[u8]) -> File {
        let path = self.dir.path().join(name);
        fs::write(&path, bytes).unwrap();
        File::open(path).unwrap()
    }
}

type PropertyMap = HashMap<String, OwnedValue>;
type DbusCallOptions = HashMap<&'static str, Value<'static>>;

async fn submit(
    proxy: &Proxy<'_>,
    document: impl AsFd,
    options: DbusCallOptions,
) -> zbus::Result<u32> {
    proxy
        .call(
            "SubmitJob",
            &("", "dbus test", Fd::from(document.as_fd()), options),
        )
        .await
}

fn held() -> DbusCallOptions {
    DbusCallOptions::from([("job-hold-until", Value::from("indefinite"))])
}

async fn get_job(proxy: &Proxy<'_>, id: u32) -> PropertyMap {
    proxy.call("GetJob", &(id,)).await.unwrap()
}

fn text(dict: &PropertyMap, key: &str) -> String {
    String::try_from(dict[key].clone()).unwrap()
}

async fn wait_for_state(proxy: &Proxy<'_>, id: u32, state: &str) -> PropertyMap {
    let deadline = Instant::now() + WAIT;
    loop {
        let job = get_job(proxy, id).await;
        if text(&job, "state") == state {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} never became {state}: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn error_name<T: std::fmt::Debug>(result: zbus::Result<T>) -> String {
    match result {
        Err(zbus::Error::MethodError(name, _, _)) => name.to_string(),
        other => panic!("expected a D-Bus error, got {other:?}"),
    }
}

async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

/// Deterministic bytes that are no known format's magic.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 13 + i / 509) as u8).collect()
}

// ---------------------------------------------------------------------------
// The name in every place it is written.

fn ini_value(text: &str, key: &str) -> Option<String> {
    text.lines().map(str::trim).find_map(|line| {
        line.strip_prefix(key)?
            .strip_prefix('=')
            .map(|v| v.trim().to_string())
    })
}

fn attribute_values(xml: &str, attribute: &str) -> Vec<String> {
    let needle = format!("{attribute}=\"");
    xml.match_indices(&needle)
        .map(|(at, _)| {
            let rest = &xml[at + needle.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect()
}

/// The activation file's `Name=`, the policy's `own=` and the unit's
/// `BusName=` must all be the name the code requests, and the activation
/// file's `SystemdService=` must be an alias the unit installs: the
/// cups-local trap (three names that disagree, so activation never works).
#[test]
fn the_bus_name_is_one_constant_everywhere() {
    let activation = fs::read_to_string(repo_file(&format!("dbus/{BUS_NAME}.service"))).unwrap();
    assert_eq!(ini_value(&activation, "Name").as_deref(), Some(BUS_NAME));
    let systemd_service = ini_value(&activation, "SystemdService").expect("SystemdService=");
    assert_eq!(systemd_service, format!("dbus-{BUS_NAME}.service"));
    assert_eq!(
        ini_value(&activation, "Exec").as_deref(),
        Some("/bin/false")
    );

    let policy = fs::read_to_string(repo_file(&format!("dbus/{BUS_NAME}.conf"))).unwrap();
    let owners = attribute_values(&policy, "own");
    assert!(!owners.is_empty(), "the policy grants no own=");
    assert!(owners.iter().all(|o| o == BUS_NAME), "own= {owners:?}");
    let destinations = attribute_values(&policy, "send_destination");
    assert!(
        destinations.iter().all(|d| d == BUS_NAME),
        "send_destination= {destinations:?}"
    );

    let xml = fs::read_to_string(repo_file(&format!("dbus/{BUS_NAME}.xml"))).unwrap();
    assert!(xml.contains(&format!("<interface name=\"{INTERFACE}\">")));
    assert!(xml.contains(&format!("<node name=\"{OBJECT_PATH}\">")));

    let unit_path = repo_file("systemd/printspoold.service");
    let Ok(unit) = fs::read_to_string(&unit_path) else {
        eprintln!(
            "{} does not exist yet: BusName= not checked",
            unit_path.display()
        );
        return;
    };
    assert_eq!(
        ini_value(&unit, "BusName").as_deref(),
        Some(BUS_NAME),
        "{} needs BusName={BUS_NAME}",
        unit_path.display()
    );
    let aliases: Vec<String> = unit
        .lines()
        .filter_map(|l| ini_value(l, "Alias"))
        .flat_map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    assert!(
        aliases.contains(&systemd_service),
        "{} needs Alias={systemd_service} (the activation file's SystemdService=)",
        unit_path.display()
    );
}

// ---------------------------------------------------------------------------
// The service.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_passed_by_fd_prints_byte_exact_with_a_signal_per_state() {
    let fx = DaemonOnBus::start("dbus-exact", "").await;
    let proxy = fx.proxy().await;
    let rule = MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .interface(INTERFACE)
        .unwrap()
        .member("JobStateChanged")
        .unwrap()
        .build();
    let mut signals = MessageStream::for_match_rule(rule, &fx.client, None)
        .await
        .unwrap();

    let bytes = pattern(512 * 1024 + 17);
    let id = submit(&proxy, fx.file("doc.bin", &bytes), DbusCallOptions::new())
        .await
        .unwrap();

    let mut states = Vec::new();
    let collect = async {
        while let Some(message) = next(&mut signals).await {
            let (job, state, _reasons): (u32, String, Vec<String>) =
                message.unwrap().body().deserialize().unwrap();
            if job == id {
                states.push(state.clone());
                if state == "completed" {
                    break;
                }
            }
        }
    };
    tokio::time::timeout(WAIT, collect)
        .await
        .expect("JobStateChanged up to completed");
    assert_eq!(states, ["pending", "processing", "completed"]);
    let job = get_job(&proxy, id).await;
    assert_eq!(text(&job, "owner"), "root");
    assert_eq!(text(&job, "origin"), "dbus");
    assert_eq!(
        u64::try_from(job["size"].clone()).unwrap(),
        bytes.len() as u64
    );
    assert_eq!(fs::read(fx.daemon.printed_file(id)).unwrap(), bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_descriptors_and_oversized_documents_are_refused_and_serving_goes_on() {
    let fx = DaemonOnBus::start(
        "dbus-badfd",
        "[server.limits]\nmax_document_bytes = 65536\n",
    )
    .await;
    let proxy = fx.proxy().await;

    let directory = File::open(fx.dir.path()).unwrap();
    let (socket, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let write_only = File::create(fx.dir.path().join("write-only")).unwrap();
    let (closed_pipe, writer) = std::io::pipe().unwrap();
    drop(writer);
    let refused: [(&str, OwnedFd, &str); 5] = [
        ("directory", directory.into(), UNREADABLE),
        ("socket", socket.into(), UNREADABLE),
        ("write-only file", write_only.into(), UNREADABLE),
        ("closed pipe", closed_pipe.into(), UNREADABLE),
        (
            "oversized file",
            fx.file("big", &pattern(65537)).into(),
            TOO_LARGE,
        ),
    ];
    for (what, fd, expected) in refused {
        assert_eq!(
            error_name(submit(&proxy, &fd, DbusCallOptions::new()).await),
            expected,
            "{what}"
        );
        // Still serving, on both entry paths.
        let printers: Vec<PropertyMap> = proxy.call("ListPrinters", &()).await.unwrap();
        assert_eq!(printers.len(), 1, "after the {what}");
        let response = ipp_call(
            fx.daemon.addr,
            "/printers/default",
            &get_printer_attributes(&fx.daemon.queue_uri()),
        );
        assert_eq!(response.status, status::OK, "IPP after the {what}");
    }

    // An oversized stream, refused while it arrives.
    let (reader, mut writer) = std::io::pipe().unwrap();
    let feeder = std::thread::spawn(move || {
        // EPIPE once the daemon stops reading: expected.
        let _ = writer.write_all(&pattern(200 * 1024));
    });
    assert_eq!(
        error_name(submit(&proxy, &reader, DbusCallOptions::new()).await),
        TOO_LARGE
    );
    drop(reader);
    feeder.join().unwrap();

    let jobs: Vec<PropertyMap> = proxy.call("ListJobs", &("all",)).await.unwrap();
    assert!(jobs.is_empty(), "refused documents made jobs: {jobs:?}");
    let id = submit(&proxy, fx.file("ok.txt", b"fine\n"), DbusCallOptions::new())
        .await
        .unwrap();
    wait_for_state(&proxy, id, "completed").await;
    assert!(
        !fx.daemon.log_text().contains("panicked"),
        "{}",
        fx.daemon.log_text()
    );
}

/// The client half of `owners_and_admins_over_the_real_bus`, which runs
/// this test binary again as nobody. On its own it does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run as nobody by owners_and_admins_over_the_real_bus"]
async fn nobody_client() {
    let (Ok(address), Ok(action)) = (
        std::env::var("PRINTSPOOLD_TEST_BUS"),
        std::env::var("PRINTSPOOLD_TEST_ACTION"),
    ) else {
        return;
    };
    let client = connect_to(&address).await;
    let proxy = service_proxy(&client).await;
    let outcome = match action.split_once(' ') {
        // The document is our stdin, opened by the parent: nobody could
        // not open that file by path (mode 0600, owned by root).
        None if action == "submit" => submit(&proxy, std::io::stdin(), held())
            .await
            .map(|id| id.to_string()),
        Some(("cancel", id)) => proxy
            .call::<_, _, ()>("CancelJob", &(id.parse::<u32>().unwrap(),))
            .await
            .map(|()| "ok".into()),
        Some(("hold", id)) => proxy
            .call::<_, _, ()>("HoldJob", &(id.parse::<u32>().unwrap(),))
            .await
            .map(|()| "ok".into()),
        Some(("pause", printer)) => proxy
            .call::<_, _, ()>("PausePrinter", &(printer,))
            .await
            .map(|()| "ok".into()),
        _ => panic!("unknown action {action:?}"),
    };
    match outcome {
        Ok(value) => println!("RESULT ok {value}"),
        Err(zbus::Error::MethodError(name, _, _)) => println!("RESULT error {name}"),
        Err(e) => println!("RESULT failed {e}"),
    }
}

/// Runs `nobody_client` as nobody:nogroup; returns its RESULT line.
fn as_nobody(bus: &DbusTestBus, action: &str, stdin: Option<File>) -> String {
    let mut command = nobody_client_command(action);
    command
        .env("PRINTSPOOLD_TEST_BUS", &bus.address)
        .stdin(stdin.map(Stdio::from).unwrap_or_else(Stdio::null));
    nobody_result(&output_within(command, WAIT))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_and_admins_over_the_real_bus() {
    let fx = DaemonOnBus::start("dbus-users", "").await;
    let proxy = fx.proxy().await;
    let root_job = submit(&proxy, fx.file("root.txt", b"root's\n"), held())
        .await
        .unwrap();

    let secret = fx.dir.path().join("secret.txt");
    fs::write(&secret, b"passed by descriptor\n").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    let reply = as_nobody(&fx.bus, "submit", Some(File::open(&secret).unwrap()));
    let nobody_job: u32 = reply
        .strip_prefix("ok ")
        .unwrap_or_else(|| panic!("{reply}"))
        .parse()
        .unwrap();
    let job = get_job(&proxy, nobody_job).await;
    assert_eq!(
        text(&job, "owner"),
        "nobody",
        "the owner is the bus's view of the caller"
    );
    assert_eq!(text(&job, "state"), "pending-held");

    assert_eq!(
        as_nobody(&fx.bus, &format!("cancel {root_job}"), None),
        format!("error {NOT_PERMITTED}")
    );
    assert_eq!(
        text(&get_job(&proxy, root_job).await, "state"),
        "pending-held"
    );
    assert_eq!(
        as_nobody(&fx.bus, "pause default", None),
        format!("error {NOT_PERMITTED}")
    );
    assert_eq!(
        as_nobody(&fx.bus, &format!("hold {nobody_job}"), None),
        "ok ok"
    );

    // root is an administrator: any job.
    let canceled: zbus::Result<()> = proxy.call("CancelJob", &(nobody_job,)).await;
    canceled.unwrap();
    assert_eq!(
        text(&get_job(&proxy, nobody_job).await, "state"),
        "canceled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_are_the_same_over_dbus_and_ipp() {
    let fx = DaemonOnBus::start("dbus-ipp", "").await;
    let proxy = fx.proxy().await;
    let uri = fx.daemon.queue_uri();

    // D-Bus in, IPP out.
    let id = submit(&proxy, fx.file("a.txt", b"over D-Bus\n"), held())
        .await
        .unwrap();
    let ipp = ipp_call(
        fx.daemon.addr,
        "/printers/default",
        &get_job_attributes(&uri, id as i32),
    );
    assert_eq!(ipp.status, status::OK, "{ipp:?}");
    assert_eq!(ipp.integer("job-id"), Some(id as i32));
    // root over TCP is only a claim: the verified root's job is shown
    // without its private values (job_private_values).
    assert_eq!(ipp.string("job-originating-user-name"), None, "{ipp:?}");
    assert_eq!(ipp.string("job-name"), None, "{ipp:?}");
    assert_eq!(ipp.integer("job-state"), Some(job_state::HELD));

    // IPP in, D-Bus out.
    let response = ipp_call(
        fx.daemon.addr,
        "/printers/default",
        &print_job(&uri, "over IPP", "text/plain", b"over IPP\n", true),
    );
    assert_eq!(response.status, status::OK, "{response:?}");
    let ipp_id = response.integer("job-id").unwrap() as u32;
    let ipp_view = ipp_call(
        fx.daemon.addr,
        "/printers/default",
        &get_job_attributes(&uri, ipp_id as i32),
    );
    let job = get_job(&proxy, ipp_id).await;
    assert_eq!(
        Some(text(&job, "owner")),
        ipp_view.string("job-originating-user-name")
    );
    assert_eq!(text(&job, "state"), "pending-held");
    assert_eq!(text(&job, "origin"), "ipp");
    assert_eq!(text(&job, "name"), "over IPP");

    // A D-Bus release is seen by IPP.
    let released: zbus::Result<()> = proxy.call("ReleaseJob", &(ipp_id,)).await;
    released.unwrap();
    wait_for_state(&proxy, ipp_id, "completed").await;
    let ipp_view = ipp_call(
        fx.daemon.addr,
        "/printers/default",
        &get_job_attributes(&uri, ipp_id as i32),
    );
    assert_eq!(ipp_view.integer("job-state"), Some(job_state::COMPLETED));
}

/// The `<interface>` element, whitespace-normalized.
fn interface_element(xml: &str) -> String {
    let start = xml
        .find(&format!("<interface name=\"{INTERFACE}\">"))
        .expect("interface element");
    let end = start + xml[start..].find("</interface>").unwrap() + "</interface>".len();
    xml[start..end]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_xml_is_what_the_daemon_reports() {
    let fx = DaemonOnBus::start("dbus-xml", "").await;
    let live = fx.proxy().await.introspect().await.unwrap();
    let shipped = fs::read_to_string(repo_file(&format!("dbus/{BUS_NAME}.xml"))).unwrap();
    assert_eq!(
        interface_element(&shipped),
        interface_element(&live),
        "live:\n{live}"
    );
}

// ---------------------------------------------------------------------------
// The shipped policy and activation file, loaded by a real dbus-daemon.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_policy_lets_anyone_call_but_not_own_or_set() {
    let dir = ScratchDir::new("dbus-policy");
    let policy = repo_file(&format!("dbus/{BUS_NAME}.conf"));
    let bus = DbusTestBus::start(
        dir.path(),
        &format!(
            "{SYSTEM_LIKE_POLICY}  <include>{}</include>\n",
            policy.display()
        ),
    );
    // root may own the name (the daemon runs as root here).
    let daemon = BusDaemon::start(dir.path(), &bus, "").await;
    let address = format!("--bus={}", bus.address);
    let dbus_send = |args: &[&str]| {
        let mut command = Command::new("setpriv");
        command
            .args([
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                "dbus-send",
                &address,
                "--print-reply",
            ])
            .args(args);
        let output = output_within(command, WAIT);
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let dest = format!("--dest={BUS_NAME}");
    let call = |member: &str| format!("{INTERFACE}.{member}");

    // Anyone may call the interface, introspect, ping and read properties.
    let (ok, err) = dbus_send(&[&dest, OBJECT_PATH, &call("ListPrinters")]);
    assert!(ok, "{err}");
    let (ok, err) = dbus_send(&[
        &dest,
        OBJECT_PATH,
        "org.freedesktop.DBus.Introspectable.Introspect",
    ]);
    assert!(ok, "{err}");
    let (ok, err) = dbus_send(&[&dest, OBJECT_PATH, "org.freedesktop.DBus.Peer.Ping"]);
    assert!(ok, "{err}");
    let iface = format!("string:{INTERFACE}");
    let (ok, err) = dbus_send(&[
        &dest,
        OBJECT_PATH,
        "org.freedesktop.DBus.Properties.Get",
        &iface,
        "string:Version",
    ]);
    assert!(ok, "{err}");
    // ... but the daemon still checks rights.
    let (ok, err) = dbus_send(&[&dest, OBJECT_PATH, &call("PausePrinter"), "string:default"]);
    assert!(!ok && err.contains(NOT_PERMITTED), "{err}");

    // The bus itself refuses: setting a property, and owning the name.
    let (ok, err) = dbus_send(&[
        &dest,
        OBJECT_PATH,
        "org.freedesktop.DBus.Properties.Set",
        &iface,
        "string:Version",
        "variant:string:9",
    ]);
    assert!(
        !ok && err.contains("org.freedesktop.DBus.Error.AccessDenied"),
        "{err}"
    );
    let name = format!("string:{BUS_NAME}");
    let (ok, err) = dbus_send(&[
        "--dest=org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus.RequestName",
        &name,
        "uint32:4",
    ]);
    assert!(
        !ok && err.contains("org.freedesktop.DBus.Error.AccessDenied"),
        "{err}"
    );

    // A daemon started by systemd (NOTIFY_SOCKET set) as a user the policy
    // does not name is refused the name and stops before READY=1: LSB exit
    // status 4, "insufficient privilege", with the name in the message.
    drop(daemon);
    let spool = dir.path().join("nobody-spool");
    fs::create_dir_all(&spool).unwrap();
    let c_spool = std::ffi::CString::new(spool.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: chown(2) with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::chown(c_spool.as_ptr(), 65534, 65534) }, 0);
    let notify_path = dir.path().join("notify.socket");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    fs::set_permissions(&notify_path, fs::Permissions::from_mode(0o777)).unwrap();
    notify.set_nonblocking(true).unwrap();
    let mut command = Command::new("setpriv");
    command
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            DAEMON,
        ])
        .arg("--config")
        .arg(dir.path().join("printspoold.toml"))
        // Never bound: the daemon stops before. Port 0 if it were.
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--spool-dir")
        .arg(&spool)
        .arg("--session-bus")
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .env("NOTIFY_SOCKET", &notify_path)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    // It must stop by itself: one that keeps running fails the test.
    let output = output_within(command, WAIT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains(BUS_NAME), "{stderr}");
    let mut buf = [0u8; 4096];
    while let Ok(n) = notify.recv(&mut buf) {
        let message = String::from_utf8_lossy(&buf[..n]);
        assert!(
            !message.contains("READY=1"),
            "READY=1 without the bus name: {message}"
        );
    }
}

/// Bus activation for real, on a session bus (no systemd here): the
/// activation file's `Name=` with `Exec=` pointed at the daemon, as
/// systemd would start it through `SystemdService=`. The first call starts
/// the daemon and waits in the bus's queue until the daemon requests the
/// name; after SIGTERM (name released first) the next call starts it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_call_activates_the_daemon_and_the_next_one_after_it_stops() {
    let dir = ScratchDir::new("dbus-activation");
    let services = dir.path().join("services");
    fs::create_dir_all(&services).unwrap();
    let socket = dir.path().join("bus.socket");
    let config = dir.path().join("printspoold.toml");
    fs::write(&config, "").unwrap();
    let shipped = fs::read_to_string(repo_file(&format!("dbus/{BUS_NAME}.service"))).unwrap();
    let name = ini_value(&shipped, "Name").unwrap();
    // The shell records each activated instance's pid before becoming it,
    // so the test can stop whatever the bus started even if it fails early.
    let pids = dir.path().join("activated.pids");
    let exec = format!(
        "/bin/sh -c 'echo $$ >> {}; exec /usr/bin/env DBUS_SESSION_BUS_ADDRESS=unix:path={} NO_COLOR=1 \
         {DAEMON} --config {} --listen {} --spool-dir {} --session-bus'",
        pids.display(),
        socket.display(),
        config.display(),
        // The bus starts it, not us: it binds its own socket (no port to
        // guess).
        dir.path().join("ipp.sock").display(),
        dir.path().join("spool").display()
    );
    let _cleanup = KillRecorded(pids.clone());
    fs::write(
        services.join(format!("{name}.service")),
        format!("[D-BUS Service]\nName={name}\nExec={exec}\n"),
    )
    .unwrap();
    let bus = DbusTestBus::start(
        dir.path(),
        &format!(
            "{OPEN_POLICY}  <servicedir>{}</servicedir>\n",
            services.display()
        ),
    );
    let client = bus.connect().await;
    let dbus = DBusProxy::new(&client).await.unwrap();
    assert!(!dbus.name_has_owner(bus_name()).await.unwrap());
    let proxy = service_proxy(&client).await;

    let started = Instant::now();
    let printers: Vec<PropertyMap> = tokio::time::timeout(WAIT, proxy.call("ListPrinters", &()))
        .await
        .expect("activation within 10 s")
        .expect("the activated daemon answers");
    eprintln!(
        "first call answered after activation in {:?}",
        started.elapsed()
    );
    assert_eq!(printers.len(), 1);
    let first_pid = dbus
        .get_connection_unix_process_id(bus_name())
        .await
        .unwrap();

    // SIGTERM: the daemon releases the name first, then exits.
    unsafe { libc::kill(first_pid as i32, libc::SIGTERM) };
    let gone = async {
        while dbus.name_has_owner(bus_name()).await.unwrap() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(WAIT, gone)
        .await
        .expect("name released on SIGTERM");
    assert!(
        wait_until(WAIT, || unsafe { libc::kill(first_pid as i32, 0) } != 0),
        "the daemon exited"
    );

    // The next call activates a new instance, which finds the same spool.
    let printers: Vec<PropertyMap> = tokio::time::timeout(WAIT, proxy.call("ListPrinters", &()))
        .await
        .expect("re-activation within 10 s")
        .expect("the new instance answers");
    assert_eq!(printers.len(), 1);
    let second_pid = dbus
        .get_connection_unix_process_id(bus_name())
        .await
        .unwrap();
    assert_ne!(first_pid, second_pid);
    let recorded = fs::read_to_string(&pids).unwrap();
    assert_eq!(recorded.lines().count(), 2, "two activations: {recorded}");
}

/// On drop, SIGKILLs every process the bus started (pids recorded in a
/// file) that is still running: they are children of the bus, not ours.
struct KillRecorded(PathBuf);

impl Drop for KillRecorded {
    fn drop(&mut self) {
        let pids = fs::read_to_string(&self.0).unwrap_or_default();
        for pid in pids.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            // Only if it is still the daemon (not a reused pid).
            let exe = fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
            if exe == Path::new(DAEMON) {
                // SAFETY: kill(2) has no memory effects.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}

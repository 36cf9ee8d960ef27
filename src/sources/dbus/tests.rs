//! The D-Bus source against a real `dbus-daemon` (a private bus per test)
//! and a real job core in a scratch spool. Clients are zbus in this
//! process (uid 0, an administrator) and `busctl`/`dbus-send` run as
//! `nobody` through `setpriv` for a second, unprivileged user.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use zbus::export::futures_core::Stream;
use zbus::zvariant::{Fd, OwnedValue, Value};
use zbus::{Connection, MatchRule, MessageStream, Proxy};

use super::*;
use crate::config::PrinterConfig;
use crate::core::{CoreOptions, Spooler};

const WAIT: Duration = Duration::from_secs(10);

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> Scratch {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "printspoold-dbus-{label}-{}-{n}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        // nobody must reach the bus socket inside.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // A print worker may still be writing into it for a moment.
        for _ in 0..40 {
            if fs::remove_dir_all(&self.0).is_ok() || !self.0.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A private `dbus-daemon` with a permissive policy: every user may
/// connect, own and send, so only the service's own checks are tested.
struct ScratchBus {
    child: Child,
    address: String,
}

impl ScratchBus {
    fn start(dir: &Path) -> ScratchBus {
        ScratchBus::with_policy(dir, OPEN_POLICY)
    }

    fn with_policy(dir: &Path, policy: &str) -> ScratchBus {
        let config = dir.join("bus.conf");
        fs::write(&config, bus_config(&dir.join("bus.socket"), policy)).unwrap();
        let mut command = Command::new("dbus-daemon");
        command
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--nopidfile", "--print-address"])
            .stdout(Stdio::piped());
        // SAFETY: prctl is async-signal-safe; nothing else runs in the child.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command.spawn().expect("dbus-daemon (apt-get install dbus)");
        // The address is printed once the bus listens.
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line.trim().to_string();
        assert!(
            address.starts_with("unix:"),
            "dbus-daemon printed {address:?}"
        );
        ScratchBus { child, address }
    }
}

impl Drop for ScratchBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Everyone may connect, own and send: only the service's checks apply.
const OPEN_POLICY: &str = r#"<policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>"#;

fn bus_config(socket: &Path, policy: &str) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  {policy}
</busconfig>
"#,
        socket.display()
    )
}

/// A job core on `spool` with the built-in queue `default`.
fn start_core(spool: &Path, max_document_bytes: u64) -> Spooler {
    let (spooler, _) = Spooler::start(CoreOptions {
        spool_dir: spool.to_path_buf(),
        printers: vec![PrinterConfig::builtin_default(spool)],
        default_printer: "default".into(),
        max_document_bytes,
    })
    .unwrap();
    spooler
}

/// A job core in a scratch spool, exported on a private bus under its
/// name, and a client connection.
struct DbusFixture {
    source: Option<DbusSource>,
    client: Connection,
    spooler: Spooler,
    bus: ScratchBus,
    dir: Scratch,
}

impl DbusFixture {
    async fn start(label: &str, max_document_bytes: u64) -> DbusFixture {
        let dir = Scratch::new(label);
        let bus = ScratchBus::start(&dir.0);
        let spool = dir.0.join("spool");
        let spooler = start_core(&spool, max_document_bytes);
        let source = DbusSource::export(Bus::Address(bus.address.clone()), spooler.clone(), None)
            .await
            .unwrap();
        source.request_name().await.unwrap();
        let client = zbus::connection::Builder::address(bus.address.as_str())
            .unwrap()
            .build()
            .await
            .unwrap();
        DbusFixture {
            source: Some(source),
            client,
            spooler,
            bus,
            dir,
        }
    }

    /// Releases the bus name and stops the print workers, so nothing
    /// writes into the scratch directory while it is removed.
    async fn stop(mut self) {
        if let Some(source) = self.source.take() {
            source.release().await;
        }
        self.spooler.shutdown(Duration::from_secs(5)).await;
    }

    async fn proxy(&self) -> Proxy<'static> {
        zbus::proxy::Builder::new(&self.client)
            .destination(BUS_NAME)
            .unwrap()
            .path(OBJECT_PATH)
            .unwrap()
            .interface(INTERFACE)
            .unwrap()
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .unwrap()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.0.join(name)
    }

    /// A regular file in the scratch directory holding `bytes`, opened.
    fn file_fd(&self, bytes: &[u8]) -> File {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = self.path(&format!("doc-{}", N.fetch_add(1, Ordering::Relaxed)));
        write_file(&path, bytes)
    }

    fn printed_dir(&self) -> PathBuf {
        self.dir.0.join("spool/printed")
    }

    /// Runs `program args` as nobody:nogroup.
    fn as_nobody(&self, program: &str, args: &[&str]) -> std::process::Output {
        Command::new("setpriv")
            .args([
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                program,
            ])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

type ClientOptions = HashMap<&'static str, Value<'static>>;

async fn submit(
    proxy: &Proxy<'_>,
    document: impl AsFd,
    options: ClientOptions,
) -> zbus::Result<u32> {
    proxy
        .call(
            "SubmitJob",
            &("", "test document", Fd::from(document.as_fd()), options),
        )
        .await
}

/// A pending job owned by `owner`, straight through the core, on a
/// paused queue so it stays pending.
async fn submit_in_core(spooler: &Spooler, owner: &str) -> u32 {
    let root = crate::core::Requester::verified("root", true);
    spooler.pause("default", &root).unwrap();
    let mut staging = spooler.stage_document().await.unwrap();
    staging.write(b"core\n").await.unwrap();
    let new = crate::core::NewJob {
        printer: "default".into(),
        owner: owner.into(),
        name: "core".into(),
        origin: crate::core::Origin::Ipp,
        identity: crate::core::Assurance::Verified,
        ticket: crate::core::JobTicket::default(),
        tcp_peer: None,
    };
    let job = spooler
        .submit(new, None, staging.finish().await.unwrap())
        .await
        .unwrap();
    job.id
}

async fn get_job(proxy: &Proxy<'_>, id: u32) -> HashMap<String, OwnedValue> {
    proxy.call("GetJob", &(id,)).await.unwrap()
}

fn text(dict: &HashMap<String, OwnedValue>, key: &str) -> String {
    String::try_from(dict[key].clone()).unwrap()
}

async fn wait_for_state(proxy: &Proxy<'_>, id: u32, state: &str) -> HashMap<String, OwnedValue> {
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

/// The D-Bus error name of a failed call.
fn error_name(result: zbus::Result<impl std::fmt::Debug>) -> String {
    match result {
        Err(zbus::Error::MethodError(name, _, _)) => name.to_string(),
        other => panic!("expected a D-Bus error, got {other:?}"),
    }
}

fn printed_file(dir: &Path, id: u32) -> Option<PathBuf> {
    let prefix = format!("job-{id}.");
    fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix))
        })
}

/// Deterministic bytes that are not any known format's magic.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn write_file(path: &Path, bytes: &[u8]) -> File {
    fs::write(path, bytes).unwrap();
    File::open(path).unwrap()
}

async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

async fn signal_stream(client: &Connection, member: &'static str) -> MessageStream {
    let rule = MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .path(OBJECT_PATH)
        .unwrap()
        .member(member)
        .unwrap()
        .build();
    MessageStream::for_match_rule(rule, client, None)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitted_document_prints_byte_exact() {
    let fx = DbusFixture::start("exact", 1 << 20).await;
    let proxy = fx.proxy().await;
    let bytes = pattern(300 * 1024);
    let file = write_file(&fx.path("doc.bin"), &bytes);
    let id = submit(&proxy, &file, ClientOptions::new()).await.unwrap();
    let job = wait_for_state(&proxy, id, "completed").await;
    assert_eq!(text(&job, "owner"), "root");
    assert_eq!(text(&job, "origin"), "dbus");
    assert_eq!(text(&job, "name"), "test document");
    assert_eq!(
        u64::try_from(job["size"].clone()).unwrap(),
        bytes.len() as u64
    );
    let printed = printed_file(&fx.printed_dir(), id).expect("printed file");
    assert_eq!(fs::read(printed).unwrap(), bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipe_document_is_read_to_its_end() {
    let fx = DbusFixture::start("pipe", 1 << 20).await;
    let proxy = fx.proxy().await;
    let (reader, mut writer) = std::io::pipe().unwrap();
    let bytes = pattern(200 * 1024);
    let feed = bytes.clone();
    // More than a pipe buffer: the writer blocks until the daemon reads.
    let writer_thread = std::thread::spawn(move || writer.write_all(&feed));
    let options =
        ClientOptions::from([("document-format", Value::from("application/octet-stream"))]);
    let id = submit(&proxy, &reader, options).await.unwrap();
    writer_thread.join().unwrap().unwrap();
    wait_for_state(&proxy, id, "completed").await;
    let printed = printed_file(&fx.printed_dir(), id).expect("printed file");
    assert_eq!(fs::read(printed).unwrap(), bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_state_signals_follow_the_job() {
    let fx = DbusFixture::start("signals", 1 << 20).await;
    let proxy = fx.proxy().await;
    let mut signals = signal_stream(&fx.client, "JobStateChanged").await;
    let file = write_file(&fx.path("doc.txt"), b"hello\n");
    let id = submit(&proxy, &file, ClientOptions::new()).await.unwrap();
    let mut states = Vec::new();
    let collect = async {
        while let Some(Ok(message)) = next(&mut signals).await {
            let (job_id, state, reasons): (u32, String, Vec<String>) =
                message.body().deserialize().unwrap();
            assert!(!reasons.is_empty(), "reasons are never empty");
            if job_id == id {
                states.push(state.clone());
                if state == "completed" {
                    return;
                }
            }
        }
    };
    tokio::time::timeout(WAIT, collect)
        .await
        .expect("signals up to completed");
    assert_eq!(states, ["pending", "processing", "completed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_descriptors_get_typed_errors_and_the_service_goes_on() {
    let fx = DbusFixture::start("badfd", 64 * 1024).await;
    let proxy = fx.proxy().await;
    let unreadable = "org.printspoold.Spooler1.Error.UnreadableDocument";

    let directory = File::open(&fx.dir.0).unwrap();
    let (socket, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let write_only = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(fx.path("wo"))
        .unwrap();
    let (closed_pipe, writer) = std::io::pipe().unwrap();
    drop(writer);
    let o_path = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(fx.path("wo"))
        .unwrap();
    let device = File::open("/dev/null").unwrap();
    let empty = write_file(&fx.path("empty"), b"");
    let cases: [(&str, OwnedFd); 7] = [
        ("directory", directory.into()),
        ("socket", socket.into()),
        ("write-only", write_only.into()),
        ("closed pipe", closed_pipe.into()),
        ("O_PATH", o_path.into()),
        ("character device", device.into()),
        ("empty file", empty.into()),
    ];
    for (what, fd) in cases {
        let result = submit(&proxy, &fd, ClientOptions::new()).await;
        assert_eq!(error_name(result), unreadable, "{what}");
        let printers: Vec<HashMap<String, OwnedValue>> =
            proxy.call("ListPrinters", &()).await.unwrap();
        assert_eq!(printers.len(), 1, "still serving after the {what}");
    }

    // Over the limit: a regular file (refused from its size) and a pipe
    // (refused while streaming).
    let big = write_file(&fx.path("big"), &pattern(100 * 1024));
    let result = submit(&proxy, &big, ClientOptions::new()).await;
    assert_eq!(
        error_name(result),
        "org.printspoold.Spooler1.Error.DocumentTooLarge"
    );
    let (reader, mut writer) = std::io::pipe().unwrap();
    let writer_thread = std::thread::spawn(move || {
        // Fails with EPIPE once the daemon stops reading: expected.
        let _ = writer.write_all(&pattern(100 * 1024));
    });
    let result = submit(&proxy, &reader, ClientOptions::new()).await;
    drop(reader);
    assert_eq!(
        error_name(result),
        "org.printspoold.Spooler1.Error.DocumentTooLarge"
    );
    writer_thread.join().unwrap();

    // Nothing of the refused documents stays in the spool.
    let jobs: Vec<HashMap<String, OwnedValue>> = proxy.call("ListJobs", &("all",)).await.unwrap();
    assert!(jobs.is_empty(), "{jobs:?}");
    let small = write_file(&fx.path("small"), b"still works\n");
    let id = submit(&proxy, &small, ClientOptions::new()).await.unwrap();
    wait_for_state(&proxy, id, "completed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_get_typed_errors() {
    let fx = DbusFixture::start("badargs", 1 << 20).await;
    let proxy = fx.proxy().await;
    let file = write_file(&fx.path("doc.txt"), b"x\n");
    let unknown = ClientOptions::from([("colour", Value::from("yes"))]);
    assert_eq!(
        error_name(submit(&proxy, &file, unknown).await),
        "org.printspoold.Spooler1.Error.InvalidOption"
    );
    let result: zbus::Result<u32> = proxy
        .call(
            "SubmitJob",
            &("nosuch", "t", Fd::from(file.as_fd()), ClientOptions::new()),
        )
        .await;
    assert_eq!(
        error_name(result),
        "org.printspoold.Spooler1.Error.UnknownPrinter"
    );
    let result: zbus::Result<HashMap<String, OwnedValue>> = proxy.call("GetJob", &(999u32,)).await;
    assert_eq!(
        error_name(result),
        "org.printspoold.Spooler1.Error.UnknownJob"
    );
    let result: zbus::Result<()> = proxy.call("CancelJob", &(999u32,)).await;
    assert_eq!(
        error_name(result),
        "org.printspoold.Spooler1.Error.UnknownJob"
    );
    let result: zbus::Result<Vec<HashMap<String, OwnedValue>>> =
        proxy.call("ListJobs", &("mine",)).await;
    assert_eq!(
        error_name(result),
        "org.printspoold.Spooler1.Error.InvalidArgument"
    );
    let result: zbus::Result<()> = proxy.call("PausePrinter", &("nosuch",)).await;
    assert_eq!(
        error_name(result),
        "org.printspoold.Spooler1.Error.UnknownPrinter"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_and_release() {
    let fx = DbusFixture::start("hold", 1 << 20).await;
    let proxy = fx.proxy().await;
    let file = write_file(&fx.path("doc.txt"), b"held\n");
    let options = ClientOptions::from([
        ("job-hold-until", Value::from("indefinite")),
        ("copies", Value::from(2u32)),
    ]);
    let id = submit(&proxy, &file, options).await.unwrap();
    assert_eq!(text(&get_job(&proxy, id).await, "state"), "pending-held");
    assert_eq!(fx.spooler.job(id).unwrap().ticket.copies, 2);
    let not_held: zbus::Result<()> = proxy.call("ReleaseJob", &(id,)).await;
    not_held.unwrap();
    wait_for_state(&proxy, id, "completed").await;
    let again: zbus::Result<()> = proxy.call("HoldJob", &(id,)).await;
    assert_eq!(
        error_name(again),
        "org.printspoold.Spooler1.Error.NotPossible"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_and_admins_are_told_apart_by_the_bus() {
    let fx = DbusFixture::start("auth", 1 << 20).await;
    let proxy = fx.proxy().await;
    // dbus-send, run as nobody: it prints the D-Bus error name on failure.
    let bus = format!("--bus={}", fx.bus.address);
    let dest = format!("--dest={BUS_NAME}");
    let as_nobody = |method: &str, arg: String| {
        let member = format!("{INTERFACE}.{method}");
        let out = fx.as_nobody(
            "dbus-send",
            &[&bus, "--print-reply", &dest, OBJECT_PATH, &member, &arg],
        );
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), stderr)
    };

    // root's job, held so it stays cancelable.
    let file = write_file(&fx.path("root.txt"), b"root\n");
    let root_job = submit(
        &proxy,
        &file,
        ClientOptions::from([("job-hold-until", Value::from("indefinite"))]),
    )
    .await
    .unwrap();
    // nobody's job, as if nobody had submitted it (dbus-send cannot pass a
    // descriptor; tests/dbus.rs submits as nobody over the real bus).
    let nobody_job = submit_in_core(&fx.spooler, "nobody").await;

    let not_permitted = "org.printspoold.Spooler1.Error.NotPermitted";
    let (ok, stderr) = as_nobody("CancelJob", format!("uint32:{root_job}"));
    assert!(!ok && stderr.contains(not_permitted), "{stderr}");
    assert_eq!(
        text(&get_job(&proxy, root_job).await, "state"),
        "pending-held"
    );
    let (ok, stderr) = as_nobody("ResumePrinter", "string:default".into());
    assert!(!ok && stderr.contains(not_permitted), "{stderr}");

    // The bus says uid 65534, the service makes it "nobody": the owner.
    let (ok, stderr) = as_nobody("HoldJob", format!("uint32:{nobody_job}"));
    assert!(ok, "{stderr}");
    assert_eq!(
        text(&get_job(&proxy, nobody_job).await, "state"),
        "pending-held"
    );

    // root (an administrator) may cancel nobody's job.
    let canceled: zbus::Result<()> = proxy.call("CancelJob", &(nobody_job,)).await;
    canceled.unwrap();
    assert_eq!(
        text(&get_job(&proxy, nobody_job).await, "state"),
        "canceled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_resume_signal_printer_state() {
    let fx = DbusFixture::start("pause", 1 << 20).await;
    let proxy = fx.proxy().await;
    let mut signals = signal_stream(&fx.client, "PrinterStateChanged").await;
    let paused: zbus::Result<()> = proxy.call("PausePrinter", &("default",)).await;
    paused.unwrap();
    let message = tokio::time::timeout(WAIT, next(&mut signals))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let (name, state, _reasons): (String, String, Vec<String>) =
        message.body().deserialize().unwrap();
    assert_eq!((name.as_str(), state.as_str()), ("default", "stopped"));
    let resumed: zbus::Result<()> = proxy.call("ResumePrinter", &("default",)).await;
    resumed.unwrap();
    let message = tokio::time::timeout(WAIT, next(&mut signals))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let (_, state, _): (String, String, Vec<String>) = message.body().deserialize().unwrap();
    assert_eq!(state, "idle");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printers_property_changes_with_the_configuration() {
    let fx = DbusFixture::start("props", 1 << 20).await;
    let proxy = fx.proxy().await;
    let properties = zbus::fdo::PropertiesProxy::builder(&fx.client)
        .destination(BUS_NAME)
        .unwrap()
        .path(OBJECT_PATH)
        .unwrap()
        .build()
        .await
        .unwrap();
    let iface = zbus::names::InterfaceName::from_static_str(INTERFACE).unwrap();
    let version = properties.get(iface.clone(), "Version").await.unwrap();
    assert_eq!(
        String::try_from(version).unwrap(),
        env!("CARGO_PKG_VERSION")
    );
    let printers = properties.get(iface.clone(), "Printers").await.unwrap();
    assert_eq!(Vec::<String>::try_from(printers).unwrap(), ["default"]);

    let mut added = signal_stream(&fx.client, "PrinterAdded").await;
    let mut changed = signal_stream(&fx.client, "PropertiesChanged").await;
    let spool = fx.dir.0.join("spool");
    let mut lab = PrinterConfig::builtin_default(&spool);
    lab.name = "lab".into();
    fx.spooler
        .reconfigure(&[PrinterConfig::builtin_default(&spool), lab], "default");

    let message = tokio::time::timeout(WAIT, next(&mut added))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let name: String = message.body().deserialize().unwrap();
    assert_eq!(name, "lab");
    let message = tokio::time::timeout(WAIT, next(&mut changed))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let (changed_iface, values, _invalidated): (String, HashMap<String, OwnedValue>, Vec<String>) =
        message.body().deserialize().unwrap();
    assert_eq!(changed_iface, INTERFACE);
    assert_eq!(
        Vec::<String>::try_from(values["Printers"].clone()).unwrap(),
        ["default", "lab"]
    );
    let listed: Vec<HashMap<String, OwnedValue>> = proxy.call("ListPrinters", &()).await.unwrap();
    assert_eq!(listed.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_is_requested_last_and_released_first() {
    let dir = Scratch::new("name");
    let bus = ScratchBus::start(&dir.0);
    let spool = dir.0.join("spool");
    let spooler = start_core(&spool, 1 << 20);
    let client = zbus::connection::Builder::address(bus.address.as_str())
        .unwrap()
        .build()
        .await
        .unwrap();
    let dbus = zbus::fdo::DBusProxy::new(&client).await.unwrap();
    let name = zbus::names::BusName::from_static_str(BUS_NAME).unwrap();

    let source = DbusSource::export(Bus::Address(bus.address.clone()), spooler.clone(), None)
        .await
        .unwrap();
    assert!(
        !dbus.name_has_owner(name.clone()).await.unwrap(),
        "no name before request_name"
    );
    source.request_name().await.unwrap();
    assert!(dbus.name_has_owner(name.clone()).await.unwrap());

    // A second instance is refused the name instead of queueing for it.
    let second = DbusSource::export(Bus::Address(bus.address.clone()), spooler.clone(), None)
        .await
        .unwrap();
    assert!(matches!(
        second.request_name().await,
        Err(DbusError::NameTaken)
    ));

    let started = Instant::now();
    source.release().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "release took {:?}",
        started.elapsed()
    );
    assert!(
        !dbus.name_has_owner(name.clone()).await.unwrap(),
        "name released"
    );
    // Now the second one can take over.
    second.request_name().await.unwrap();
    second.release().await;
}

/// Whitespace-insensitive form of the `<interface name="...Spooler1">`
/// element of an introspection document.
fn interface_element(xml: &str) -> String {
    let start = xml
        .find(&format!("<interface name=\"{INTERFACE}\">"))
        .expect("interface element");
    let end =
        start + xml[start..].find("</interface>").expect("end of interface") + "</interface>".len();
    xml[start..end]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_matches_the_shipped_xml() {
    let fx = DbusFixture::start("introspect", 1 << 20).await;
    let proxy = fx.proxy().await;
    let live = proxy.introspect().await.unwrap();
    let shipped_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("dbus/org.printspoold.Spooler1.xml");
    let shipped = fs::read_to_string(&shipped_path).unwrap_or_default();
    if std::env::var_os("PRINTSPOOLD_BLESS").is_some() {
        println!("{live}");
    }
    assert_eq!(
        interface_element(&shipped),
        interface_element(&live),
        "{} differs from what the service reports:\n{live}",
        shipped_path.display()
    );
    drop(fx.source);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_pipe_is_given_up_on() {
    let dir = Scratch::new("silent");
    let spool = dir.0.join("spool");
    let spooler = start_core(&spool, 1 << 20);
    let (reader, mut writer) = std::io::pipe().unwrap();
    writer.write_all(b"some bytes, then silence").unwrap();
    let checked = document::check(reader.into()).unwrap();
    let started = Instant::now();
    let result = document::stage(&spooler, checked, Duration::from_millis(300)).await;
    let elapsed = started.elapsed();
    let error = result.unwrap_err();
    assert!(
        matches!(&error, errors::Error::UnreadableDocument(m) if m.contains("no data arrived")),
        "{error:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    drop(writer);
    // The abandoned staging file is gone from tmp/.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let leftovers: Vec<_> = fs::read_dir(spool.join("tmp")).unwrap().collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_in_progress_keeps_the_source_busy() {
    let fx = DbusFixture::start("busy", 1 << 20).await;
    let proxy = fx.proxy().await;
    let source = fx.source.as_ref().unwrap();
    assert!(!source.is_busy());
    let (reader, mut writer) = std::io::pipe().unwrap();
    writer.write_all(b"first half ").unwrap();
    let call = tokio::spawn(async move {
        let reader = reader;
        submit(&proxy, &reader, ClientOptions::new()).await
    });
    let deadline = Instant::now() + WAIT;
    while !source.is_busy() {
        assert!(Instant::now() < deadline, "never busy");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    writer.write_all(b"second half\n").unwrap();
    drop(writer);
    let id = call.await.unwrap().unwrap();
    assert!(!source.is_busy());
    assert_eq!(fx.spooler.job(id).unwrap().document_bytes, Some(23));
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_the_policy_refuses_is_a_permission_error() {
    let dir = Scratch::new("denied");
    let deny_own = r#"<policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>"#;
    let bus = ScratchBus::with_policy(&dir.0, deny_own);
    let spooler = start_core(&dir.0.join("spool"), 1 << 20);
    let source = DbusSource::export(Bus::Address(bus.address.clone()), spooler, None)
        .await
        .unwrap();
    let error = source.request_name().await.unwrap_err();
    assert!(matches!(error, DbusError::NotAllowed), "{error:?}");
    assert!(error.is_permission_denied());
    assert!(error.to_string().contains(BUS_NAME), "{error}");
    source.release().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bus_that_is_gone_or_mute_fails_start_up_without_hanging() {
    let dir = Scratch::new("mute");
    let spooler = start_core(&dir.0.join("spool"), 1 << 20);

    let gone = Bus::Address(format!("unix:path={}", dir.0.join("no-such-bus").display()));
    let error = DbusSource::export(gone, spooler.clone(), None)
        .await
        .err()
        .unwrap();
    assert!(matches!(error, DbusError::Connect { .. }), "{error:?}");

    // This policy lets nothing reach clients, not even the reply to Hello.
    let mute = r#"<policy context="default">
    <allow user="*"/>
    <allow send_destination="*"/>
  </policy>"#;
    let bus = ScratchBus::with_policy(&dir.0, mute);
    let started = Instant::now();
    let timeout = Duration::from_millis(500);
    let error =
        DbusSource::export_within(Bus::Address(bus.address.clone()), spooler, None, timeout)
            .await
            .err()
            .unwrap();
    assert!(matches!(error, DbusError::Timeout { .. }), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_documents_at_once_are_refused_not_queued() {
    let fx = DbusFixture::start("flood", 1 << 20).await;
    let proxy = fx.proxy().await;
    let limit = interface::MAX_CONCURRENT_READS;
    // `limit` submissions whose pipes stay open and silent hold every
    // reader; the next one is turned away at once.
    let mut fillers = Vec::new();
    let mut calls = Vec::new();
    for _ in 0..limit {
        let (reader, mut writer) = std::io::pipe().unwrap();
        // More than the spool stages in memory, so each reader spills to a
        // staging file in tmp/ (what the wait below counts), then silence.
        fillers.push(std::thread::spawn(move || {
            let spilled = crate::spool::INLINE_MAX as usize + 1;
            writer.write_all(&vec![b'x'; spilled]).unwrap();
            writer
        }));
        let proxy = proxy.clone();
        calls.push(tokio::spawn(async move {
            submit(&proxy, &reader, ClientOptions::new()).await
        }));
    }
    // Each reading call has its staging file in the spool's tmp/.
    let tmp = fx.dir.0.join("spool/tmp");
    let staging_files = || fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0);
    let deadline = Instant::now() + WAIT;
    while staging_files() < limit {
        assert!(
            Instant::now() < deadline,
            "only {} documents being read",
            staging_files()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fx.source.as_ref().unwrap().calls_in_flight(), limit);
    let writers: Vec<_> = fillers.into_iter().map(|f| f.join().unwrap()).collect();
    let extra = fx.file_fd(b"one too many\n");
    let result = submit(&proxy, &extra, ClientOptions::new()).await;
    assert_eq!(
        error_name(result),
        "org.printspoold.Spooler1.Error.ServiceUnavailable"
    );

    for mut writer in writers {
        writer.write_all(b"late\n").unwrap();
    }
    for call in calls {
        call.await.unwrap().unwrap();
    }
    // Readers are free again.
    let id = submit(&proxy, &fx.file_fd(b"now fine\n"), ClientOptions::new())
        .await
        .unwrap();
    assert!(fx.spooler.job(id).is_some());
    fx.stop().await;
}

/// A measurement, not a check: `cargo test --lib submission_rate --
/// --ignored --nocapture` prints durable D-Bus submissions per second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run by hand"]
async fn submission_rate() {
    let fx = DbusFixture::start("rate", 1 << 20).await;
    let proxy = fx.proxy().await;
    let document = pattern(1024);
    for concurrency in [1usize, 4, 16] {
        let per_task = 400 / concurrency;
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let proxy = proxy.clone();
            let file = fx.file_fd(&document);
            tasks.push(tokio::spawn(async move {
                for _ in 0..per_task {
                    submit(&proxy, &file, ClientOptions::new()).await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let rate = (per_task * concurrency) as f64 / started.elapsed().as_secs_f64();
        println!("{concurrency} concurrent callers: {rate:.0} submissions/s (1 KiB, durable)");
    }
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_jobs_returns_at_most_the_default_limit_and_caps_refuse_with_a_typed_error() {
    let fx = DbusFixture::start("limits", 1 << 20).await;
    fx.spooler.set_job_limits(crate::core::JobLimits {
        list_default: 3,
        max_active_jobs_per_user: 5,
        ..crate::core::JobLimits::default()
    });
    let proxy = fx.proxy().await;
    // SAFETY: getuid cannot fail.
    let me = crate::identity::user_name(unsafe { libc::getuid() }).unwrap_or_default();
    for _ in 0..5 {
        submit_in_core(&fx.spooler, &me).await;
    }
    let jobs: Vec<HashMap<String, OwnedValue>> = proxy.call("ListJobs", &("all",)).await.unwrap();
    assert_eq!(jobs.len(), 3, "ListJobs without a limit lists the default");
    // The caller's sixth active job is over its cap: a typed error.
    let file = write_file(&fx.path("sixth"), b"sixth\n");
    let result = submit(&proxy, &file, ClientOptions::new()).await;
    let name = error_name(result);
    assert_eq!(name, "org.printspoold.Spooler1.Error.TooManyJobs");
    fx.stop().await;
}

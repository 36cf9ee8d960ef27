//! The VM's Print-Job load for the crash checks of tests/vm: `--clients`
//! threads, each sending Print-Jobs of unique small documents over IPP to
//! the daemon, one TCP connection per job, and writing
//! `ACK <job-id> <sha256>` to `--console` the moment a successful-ok
//! answer is read. With `--jobs N` each thread stops after N jobs; with
//! `--marker-disk DISK --marker-sector S` each acknowledgement is also
//! written (then fdatasynced) into sector `S + 1000 * client + n` of DISK.
//!
//! A program, not a shell loop of ipptool: under TCG every process spawned
//! costs tens of milliseconds, and 1,000 acknowledged jobs must fit the CI
//! budget. The IPP request is encoded by hand (RFC 8010), a few fields.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

struct LoadSettings {
    server: String,
    path: String,
    clients: u64,
    jobs: Option<u64>,
    boot: u64,
    console: String,
    marker_disk: Option<String>,
    marker_sector: u64,
}

fn main() {
    let settings = match parse_args() {
        Ok(settings) => Arc::new(settings),
        Err(e) => {
            eprintln!("crash-client: {e}");
            std::process::exit(2);
        }
    };
    let console = match OpenOptions::new().append(true).open(&settings.console) {
        Ok(file) => Arc::new(Mutex::new(file)),
        Err(e) => {
            eprintln!("crash-client: {}: {e}", settings.console);
            std::process::exit(2);
        }
    };
    let threads: Vec<_> = (1..=settings.clients)
        .map(|client| {
            let settings = Arc::clone(&settings);
            let console = Arc::clone(&console);
            std::thread::spawn(move || run_client(&settings, client, &console))
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
}

fn parse_args() -> Result<LoadSettings, String> {
    let mut settings = LoadSettings {
        server: "127.0.0.1:631".into(),
        path: "/printers/default".into(),
        clients: 2,
        jobs: None,
        boot: 0,
        console: "/dev/ttyS0".into(),
        marker_disk: None,
        marker_sector: 0,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let [name, value] = pair else {
            return Err(format!("{} needs a value", pair[0]));
        };
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{name}: not a number"))
        };
        match name.as_str() {
            "--server" => settings.server = value.clone(),
            "--path" => settings.path = value.clone(),
            "--clients" => settings.clients = number()?,
            "--jobs" => settings.jobs = Some(number()?),
            "--boot" => settings.boot = number()?,
            "--console" => settings.console = value.clone(),
            "--marker-disk" => settings.marker_disk = Some(value.clone()),
            "--marker-sector" => settings.marker_sector = number()?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(settings)
}

fn run_client(settings: &LoadSettings, client: u64, console: &Mutex<File>) {
    let marker_disk = settings.marker_disk.as_ref().and_then(|path| {
        OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DSYNC)
            .open(path)
            .map_err(|e| eprintln!("crash-client: {path}: {e}"))
            .ok()
    });
    let mut random = client.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ settings.boot;
    let mut seq = 0u64;
    while settings.jobs.is_none_or(|jobs| seq < jobs) {
        seq += 1;
        let document = make_document(settings.boot, client, seq, &mut random);
        let sha256: String = Sha256::digest(&document)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        match print_job(settings, &document, seq) {
            Ok(job_id) => {
                let line = format!("ACK {job_id} {sha256}\n");
                if let Ok(mut console) = console.lock() {
                    let _ = console.write_all(line.as_bytes());
                }
                if let Some(disk) = &marker_disk {
                    let mut sector = vec![0u8; 512];
                    sector[..line.len()].copy_from_slice(line.as_bytes());
                    let at = (settings.marker_sector + client * 1000 + seq) * 512;
                    let _ = disk
                        .write_all_at(&sector, at)
                        .and_then(|()| disk.sync_data());
                }
            }
            Err(e) => {
                if let Ok(mut console) = console.lock() {
                    let _ = writeln!(console, "NACK client {client} job {seq}: {e}");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// "boot B client C job N\n" and 0-6 KiB of pseudo-random bytes: unique.
fn make_document(boot: u64, client: u64, seq: u64, random: &mut u64) -> Vec<u8> {
    let mut document = format!("boot {boot} client {client} job {seq}\n").into_bytes();
    let len = (next(random) % 6144) as usize;
    document.extend((0..len).map(|_| next(random) as u8));
    document
}

fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// One Print-Job on its own connection; the job id of a successful answer.
fn print_job(settings: &LoadSettings, document: &[u8], seq: u64) -> Result<i32, String> {
    let uri = format!("ipp://{}{}", settings.server, settings.path);
    let mut body = vec![2, 0, 0, 2];
    body.extend_from_slice(&(seq as u32).to_be_bytes());
    body.push(0x01);
    attribute(&mut body, 0x47, "attributes-charset", "utf-8");
    attribute(&mut body, 0x48, "attributes-natural-language", "en");
    attribute(&mut body, 0x45, "printer-uri", &uri);
    attribute(&mut body, 0x42, "requesting-user-name", "crash");
    attribute(&mut body, 0x42, "job-name", &format!("crash-{seq}"));
    attribute(
        &mut body,
        0x49,
        "document-format",
        "application/octet-stream",
    );
    body.push(0x03);
    body.extend_from_slice(document);
    let mut stream = TcpStream::connect(&settings.server).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/ipp\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        settings.path,
        settings.server,
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .map_err(|e| e.to_string())?;
    stream.write_all(&body).map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| e.to_string())?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no HTTP header")?;
    if !response.starts_with(b"HTTP/1.1 200") {
        return Err(format!(
            "HTTP {}",
            String::from_utf8_lossy(&response[..split.min(40)])
        ));
    }
    job_id_of(&response[split + 4..])
}

fn attribute(body: &mut Vec<u8>, tag: u8, name: &str, value: &str) {
    body.push(tag);
    body.extend_from_slice(&(name.len() as u16).to_be_bytes());
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(&(value.len() as u16).to_be_bytes());
    body.extend_from_slice(value.as_bytes());
}

/// The `job-id` of a successful IPP answer.
fn job_id_of(ipp: &[u8]) -> Result<i32, String> {
    if ipp.len() < 8 {
        return Err("short IPP answer".into());
    }
    let status = u16::from_be_bytes([ipp[2], ipp[3]]);
    if status >= 0x0100 {
        return Err(format!("IPP status {status:#06x}"));
    }
    let mut at = 8;
    while at < ipp.len() {
        let tag = ipp[at];
        at += 1;
        if tag == 0x03 {
            break;
        }
        if tag < 0x10 {
            continue;
        }
        let field = |at: usize| -> Result<usize, String> {
            ipp.get(at..at + 2)
                .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                .ok_or_else(|| "truncated IPP answer".to_string())
        };
        let name_len = field(at)?;
        let name = ipp.get(at + 2..at + 2 + name_len).ok_or("truncated")?;
        at += 2 + name_len;
        let value_len = field(at)?;
        let value = ipp.get(at + 2..at + 2 + value_len).ok_or("truncated")?;
        at += 2 + value_len;
        if name == b"job-id" && tag == 0x21 && value.len() == 4 {
            return Ok(i32::from_be_bytes([value[0], value[1], value[2], value[3]]));
        }
    }
    Err("no job-id in a successful answer".into())
}

//! printspoold: a print spool server and a reference implementation of
//! daemon(7). See README.md for the tour.

mod backend;
mod cli;
mod config;
mod core;
mod daemon;
mod docformat;
mod exit;
mod http;
mod ipp;
mod logging;
mod sources;
mod spool;
mod systemd;
mod sysv;

fn main() -> std::process::ExitCode {
    daemon::main()
}

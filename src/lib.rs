//! printspoold: a print spool server and a reference implementation of
//! daemon(7). The binary is a thin `main.rs`; everything lives here so the
//! fuzz targets, benchmarks and integration tests can reach it.
//!
//! Where things are:
//! - `sources/`: the activation sources (IPP sockets, D-Bus, the drop
//!   directory, USB hot-plug), each feeding the one job core;
//! - `core/`: the job core (queues, jobs, print workers);
//! - `spool/`: the durable on-disk spool; `backend/`: where jobs print;
//! - `crates/ipp-proto`: the protocol, without I/O; [`systemd`] and [`sysv`]:
//!   the two ways of being a daemon; [`daemon`]: start-up order, the main
//!   loop, shutdown; [`commands`]: the command line's commands; [`paths`]:
//!   the default spool directory and listen addresses.

pub mod backend;
pub mod cleanup;
pub mod cli;
pub mod commands;
pub mod config;
pub mod core;
pub mod daemon;
pub mod docformat;
pub mod exit;
pub mod identity;
pub mod journal;
pub mod logging;
pub mod paths;
pub mod sources;
pub mod spool;
pub mod supervisor;
pub mod systemd;
pub mod sysv;
#[cfg(test)]
pub(crate) mod test_support;

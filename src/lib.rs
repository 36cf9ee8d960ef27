//! printspoold: a print spool server and a reference implementation of
//! daemon(7). The binary is a thin `src/main.rs`; everything lives here so
//! the fuzz targets, benchmarks and integration tests can reach it.
//!
//! Where things are:
//! - [`sources`]: every entry path, each feeding the one job core:
//!   [`sources::ipp`] (the IPP listeners, the HTTP transport and the IPP
//!   service), [`sources::dbus`], [`sources::dropdir`] (the drop directory)
//!   and [`sources::usb`] (hot-plug);
//! - [`core`]: the job core (queues, jobs, print workers);
//! - [`spool`]: the durable on-disk spool; [`backend`]: where jobs print;
//! - the workspace crate `crates/ipp-proto` ([`ipp_proto`]): the IPP codec
//!   and model, without I/O;
//! - [`config`]: the configuration file; [`cleanup`]: `printspoold cleanup`;
//! - [`systemd`] and [`sysv`]: the two ways of being a daemon;
//!   [`daemon`]: start-up order, the main loop, shutdown; [`commands`]:
//!   the command line's commands; [`paths`]: the default spool directory
//!   and listen addresses; [`clock`]: the one Unix-time clock.

// The documentation is built with `--document-private-items`: a module's
// text links the private items it explains.
#![allow(rustdoc::private_intra_doc_links)]

pub mod backend;
pub mod cleanup;
pub mod cli;
pub mod clock;
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

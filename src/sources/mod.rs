//! The activation sources: each one feeds the job core.
//!
//! - [`listeners`]: the IPP sockets, bound here or passed by systemd.

pub mod dropdir;
pub mod listeners;

//! The activation sources: each one feeds the one job core (`crate::core`).
//!
//! - [`listeners`]: the IPP sockets, passed by systemd (socket activation)
//!   or bound here; `crate::http` and `crate::ipp` serve them;
//! - [`dbus`]: the `org.printspoold.Spooler1` bus service (bus activation);
//! - [`dropdir`]: files dropped into the spool (path activation);
//! - [`usb`]: printers plugged in (device activation).

pub mod dbus;
pub mod dropdir;
pub mod listeners;
pub mod usb;

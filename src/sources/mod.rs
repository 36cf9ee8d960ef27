//! The activation sources: each one feeds the one job core (`crate::core`).
//!
//! - [`ipp`]: the IPP sockets, passed by systemd (socket activation) or
//!   bound here, the HTTP transport and the IPP operations;
//! - [`dbus`]: the `org.printspoold.Spooler1` bus service (bus activation);
//! - [`dropdir`]: files dropped into the spool (path activation);
//! - [`usb`]: printers plugged in (device activation).

pub mod dbus;
pub mod dropdir;
pub mod ipp;
pub mod usb;

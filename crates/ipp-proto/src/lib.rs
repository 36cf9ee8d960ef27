//! The Internet Printing Protocol without I/O: the RFC 8010 encoding and the
//! RFC 8011 model, as ntpd-rs keeps NTP in `ntp-proto`.
//!
//! [`value`] holds the data model, [`decode`] and [`encode`] the wire codec
//! with explicit [`DecodeLimits`] (written here rather than taken from the `ipp`
//! crate, which panics on malformed input: see LESSONS-FROM-PEERS.md).
//! Nothing in this crate touches a socket, a file or a runtime, so the
//! daemon, its tests, the benchmark and the fuzz targets share one codec,
//! and fuzzing builds only this.

pub mod decode;
pub mod encode;
pub mod request;
pub mod value;

pub use decode::{DecodeError, DecodeLimits, decode_request};
pub use encode::encode_message;
pub use value::{Attribute, DelimiterTag, Group, Message, Operation, StatusCode, Value, ValueTag};

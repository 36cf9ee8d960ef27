//! The Internet Printing Protocol (RFC 8010 encoding, RFC 8011 model).
//!
//! `value` holds the data model, `decode`/`encode` the wire codec with explicit
//! limits (the `ipp` crate panics on malformed input, see
//! LESSONS-FROM-PEERS.md), and `service` answers operations against the job
//! core. Nothing in here touches sockets: `http` carries the bytes.

pub mod decode;
pub mod encode;
pub mod service;
pub mod value;

pub use decode::{DecodeError, Limits, decode_request};
pub use encode::encode_message;
pub use value::{Attribute, DelimiterTag, Group, Message, Operation, StatusCode, Value, ValueTag};

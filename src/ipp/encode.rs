//! (stub: being written) IPP encoder.
use super::value::Message;
pub fn encode_message(_msg: &Message, _out: &mut Vec<u8>) {}

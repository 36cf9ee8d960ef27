//! (stub: being written) IPP decoder.
use super::value::Message;
#[derive(Debug, Clone)]
pub struct Limits;
#[derive(Debug)]
pub struct DecodeError;
pub fn decode_request(_buf: &[u8], _limits: &Limits) -> Result<(Message, usize), DecodeError> {
    Err(DecodeError)
}

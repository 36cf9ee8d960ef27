//! The IPP entry path: a request goes from the listening socket
//! ([`listeners`]) through the HTTP/1.1 transport ([`http`]) to the IPP
//! operations ([`service`]), which submit to the job core.

pub mod http;
pub mod listeners;
pub mod service;

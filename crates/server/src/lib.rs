//! The `roster` program: the runtime that keeps one engine per workspace following the
//! store, the HTTP API on top of it, and the command line.

pub mod batch;
pub mod cli;
pub mod http;
pub mod listen;
pub mod mail;
pub mod pool;
pub mod redact;
pub mod runtime;
pub mod scim;
pub mod secret;
pub mod throttle;
pub mod transfer;

pub use runtime::{Roster, RuntimeError};

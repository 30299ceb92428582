//! The SCIM 2.0 service provider, end to end over real TCP, on SQLite and PostgreSQL:
//! a conformance walk through RFC 7644 section by section, and the request habits of
//! Okta and Microsoft Entra ID, each as the request such a client sends.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

mod support;

#[path = "api/kit.rs"]
#[allow(dead_code)]
mod kit;

#[path = "scim/client.rs"]
mod client;

#[path = "scim/conformance.rs"]
mod conformance;
#[path = "scim/cost.rs"]
mod cost;
#[path = "scim/faults.rs"]
mod faults;
#[path = "scim/habits.rs"]
mod habits;
#[path = "scim/takeover.rs"]
mod takeover;

//! The HTTP API, end to end over real TCP, on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

mod support;

#[path = "api/kit.rs"]
mod kit;

#[path = "api/access.rs"]
mod access;
#[path = "api/connections.rs"]
mod connections;
#[path = "api/defaults.rs"]
mod defaults;
#[path = "api/delivery.rs"]
mod delivery;
#[path = "api/dynamic.rs"]
mod dynamic;
#[path = "api/errors.rs"]
mod errors;
#[path = "api/faults.rs"]
mod faults;
#[path = "api/groups.rs"]
mod groups;
#[path = "api/invitations.rs"]
mod invitations;
#[path = "api/lookalikes.rs"]
mod lookalikes;
#[path = "api/members.rs"]
mod members;
#[path = "api/random_access.rs"]
mod random_access;
#[path = "api/random_rules.rs"]
mod random_rules;
#[path = "api/records.rs"]
mod records;
#[path = "api/roles.rs"]
mod roles;

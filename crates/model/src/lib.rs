//! Roster's domain types, shared by the engine, the operations, the store and the server.
//!
//! They live in one crate with no I/O so that every layer speaks the same language: the
//! store persists exactly these values, the engine derives its sets from them, and the
//! HTTP API serializes them as they are.

mod audit;
mod change;
mod event;
mod group;
mod invitation;
pub mod json;
mod member;
mod property;
mod role;
mod scim;
mod token;
mod workspace;

pub use audit::{Actor, AuditEntry, AuditRecord};
pub use change::{ChangeKind, ChangeRecord, MembershipChange, RoleChange};
pub use event::{Event, Revision, Snapshot};
pub use group::{DefaultGroup, Group, ManagedBy, Membership, MembershipSource, StaticMembership};
pub use invitation::{Delivery, DeliveryState, Invitation, InvitationState, Issue, OutboxMessage};
pub use member::{Member, MemberKind, MemberState, UserType};
pub use property::{PropertyDef, PropertyType, PropertyValue};
pub use role::{Category, Grant, GrantMask, ObjectType, Privilege, Role, RoleAssignment};
pub use scim::{ScimLink, ScimMapping, ScimResource, ScimResourceType, ScimToken};
pub use token::TokenRecord;
pub use workspace::Workspace;

/// Every object is named by a UUID (version 7, so ids sort by creation time and make
/// stable pagination cursors).
pub type Id = uuid::Uuid;

/// A point in time, always UTC, serialized as RFC 3339.
pub type Timestamp = time::OffsetDateTime;

/// A fresh, time-ordered id.
pub fn new_id() -> Id {
    uuid::Uuid::now_v7()
}

/// Timestamps are kept at microsecond precision so that what the store gives back equals
/// what was written.
pub fn now() -> Timestamp {
    let now = time::OffsetDateTime::now_utc();
    let micros = now.unix_timestamp_nanos() / 1_000;
    from_micros(micros as i64)
}

/// Converts a timestamp to the integer microseconds the store keeps.
pub fn to_micros(t: Timestamp) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

/// Converts integer microseconds from the store back to a timestamp.
pub fn from_micros(micros: i64) -> Timestamp {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

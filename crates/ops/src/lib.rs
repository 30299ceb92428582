//! Roster's operations: the rules of who may do what (SPEC §2) and the invariants of
//! members, properties and groups (SPEC §1), as pure functions.
//!
//! An operation reads a [`WorkspaceState`] that is current with the store (the caller
//! holds the workspace's write lock), decides, and returns an [`Outcome`]: the value to
//! answer with, the [`Event`]s to commit and the audit entries that go in the same
//! transaction. It never performs I/O, so every rule here is tested without a database.

pub mod access;
mod bootstrap;
pub mod checks;
mod error;
pub mod groups;
pub mod invitations;
pub mod members;
mod patch;
pub mod properties;
pub mod roles;
pub mod rules;
pub mod scim;
pub mod tokens;
pub mod transfer;
mod validate;

pub use bootstrap::{new_workspace, Bootstrap};
pub use error::{ItemError, OpError};

use roster_engine::WorkspaceState;
use roster_model::{Actor, AuditEntry, Event, Id, Timestamp};
use serde::Serialize;

/// What an operation needs to decide: the state, who acts, and when.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    /// The workspace, current with the store.
    pub state: &'a WorkspaceState,
    /// Who acts.
    pub actor: Actor,
    /// The time stamped on what the operation creates.
    pub now: Timestamp,
}

/// A decided write: the answer, and what must be committed for it.
#[derive(Debug)]
pub struct Outcome<T> {
    /// What the caller answers with once the events are committed.
    pub value: T,
    /// The facts to commit, in order, under one revision.
    pub events: Vec<Event>,
    /// The audit entries committed in the same transaction.
    pub audit: Vec<AuditEntry>,
}

impl<T> Outcome<T> {
    /// An outcome that changes nothing.
    pub fn unchanged(value: T) -> Self {
        Outcome {
            value,
            events: Vec::new(),
            audit: Vec::new(),
        }
    }
}

impl Ctx<'_> {
    /// An audit entry by this context's actor.
    pub(crate) fn audit(
        &self,
        action: &str,
        target_type: &str,
        target_id: Option<Id>,
        before: Option<&impl Serialize>,
        after: Option<&impl Serialize>,
    ) -> AuditEntry {
        AuditEntry {
            actor: self.actor,
            action: action.to_owned(),
            target_type: target_type.to_owned(),
            target_id,
            before: before.and_then(|v| serde_json::to_value(v).ok()),
            after: after.and_then(|v| serde_json::to_value(v).ok()),
        }
    }
}

/// Marks the absence of a before or after value in an audit entry.
pub(crate) const NOTHING: Option<&()> = None;

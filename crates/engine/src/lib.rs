//! Roster's in-memory engine for one workspace.
//!
//! The store is the only source of truth; a [`WorkspaceState`] is built from a store
//! [`Snapshot`](roster_model::Snapshot) and then *follows* the store's event log by
//! [`apply`](WorkspaceState::apply)ing each committed revision. Nothing here is ever
//! written back. Members get a dense `u32` slot so that every member set is a roaring
//! bitmap, and effective membership is set algebra over those bitmaps.
//!
//! The engine does no I/O and makes no decisions: who may do what lives in `roster-ops`.

mod changes;
mod cores;
pub mod dynamic;
pub mod index;
pub mod invitations;
mod permissions;
mod readers;
pub mod scim;
mod sets;
mod state;

pub use index::{AttributeIndex, Cell, Cells, CompiledRule, SharedAnswers, SlotCells, ValueRef};
pub use permissions::{Permissions, ALL_GRANTS};
pub use sets::MemberSets;
pub use state::{ApplyError, Loader, WorkspaceState};

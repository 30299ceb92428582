//! The rules of SPEC §2 that do not depend on one object: who counts as an admin, who
//! may read the workspace. Rules about one object live beside its operations.

use roster_model::{Actor, Id, Member, MemberKind};

use crate::{Ctx, OpError};

/// Whether the actor has admin powers: an active member of Admins, or an operator at the
/// command line (who has the database itself).
pub fn is_admin(ctx: &Ctx) -> bool {
    match ctx.actor {
        Actor::Member { id } => ctx.state.is_admin(&id),
        Actor::Cli | Actor::System => true,
        // An identity provider writes only what SCIM lets it (see `scim`).
        Actor::IdentityProvider { .. } => false,
    }
}

/// Refuses with `rule` unless the actor is an admin.
pub fn require_admin(ctx: &Ctx, rule: &str) -> Result<(), OpError> {
    if is_admin(ctx) {
        Ok(())
    } else {
        Err(OpError::forbidden(rule))
    }
}

/// The member behind the request, when a member acts.
pub fn actor_member(ctx: &Ctx) -> Option<Member> {
    ctx.actor.member_id().and_then(|id| ctx.state.member(&id))
}

/// Whether the actor is an internal user (or the command line).
pub fn is_internal(ctx: &Ctx) -> bool {
    match ctx.actor {
        Actor::Member { .. } => actor_member(ctx).is_some_and(|m| m.kind == MemberKind::User),
        Actor::Cli | Actor::System => true,
        Actor::IdentityProvider { .. } => false,
    }
}

/// The rule that lets internal users read the workspace's members, groups and roles.
pub const READ_RULE: &str =
    "only internal users read the workspace's members, groups and roles; a customer reads only itself";

/// Refuses unless the actor may read the workspace as a whole.
pub fn require_reader(ctx: &Ctx) -> Result<(), OpError> {
    if is_internal(ctx) {
        Ok(())
    } else {
        Err(OpError::forbidden(READ_RULE))
    }
}

/// Refuses unless the actor may read this one member: internal users read anyone, a
/// customer reads only itself.
pub fn require_member_reader(ctx: &Ctx, member_id: &Id) -> Result<(), OpError> {
    if is_internal(ctx) || ctx.actor.member_id() == Some(*member_id) {
        Ok(())
    } else {
        Err(OpError::forbidden(READ_RULE))
    }
}

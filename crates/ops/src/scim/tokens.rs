//! SCIM tokens: admins issue and revoke them; an identity provider presents one.

use roster_model::{new_id, Event, Id, ScimToken};

use crate::access::require_admin;
use crate::{Ctx, OpError, Outcome, NOTHING};

const RULE: &str = "only admins issue and revoke SCIM tokens";

/// Issues a SCIM token with the given secret hash.
pub fn create(
    ctx: &Ctx,
    name: Option<String>,
    hash: String,
) -> Result<Outcome<ScimToken>, OpError> {
    require_admin(ctx, RULE)?;
    let name = match name.as_deref() {
        Some(raw) => Some(crate::validate::name("name", raw)?),
        None => None,
    };
    let token = ScimToken {
        id: new_id(),
        hash,
        name,
        created_by: ctx.actor.member_id(),
        created_at: ctx.now,
    };
    let shown = serde_json::json!({"id": token.id, "name": token.name});
    Ok(Outcome {
        events: vec![Event::ScimTokenCreated {
            token: token.clone(),
        }],
        audit: vec![ctx.audit(
            "scim_token.create",
            "scim_token",
            Some(token.id),
            NOTHING,
            Some(&shown),
        )],
        value: token,
    })
}

/// Revokes a SCIM token: the identity provider holding it is refused from then on.
pub fn revoke(ctx: &Ctx, id: Id) -> Result<Outcome<()>, OpError> {
    require_admin(ctx, RULE)?;
    let token = ctx
        .state
        .scim()
        .token(&id)
        .ok_or_else(|| OpError::not_found("SCIM token"))?;
    let shown = serde_json::json!({"id": token.id, "name": token.name});
    Ok(Outcome {
        value: (),
        events: vec![Event::ScimTokenRevoked { id }],
        audit: vec![ctx.audit(
            "scim_token.revoke",
            "scim_token",
            Some(id),
            Some(&shown),
            NOTHING,
        )],
    })
}

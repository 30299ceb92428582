//! API tokens: a member creates its own, an admin creates them for agents. The secret is
//! made and hashed by the caller; operations only ever see the hash.

use roster_model::{new_id, Event, Id, TokenRecord, UserType};

use crate::access::is_admin;
use crate::{Ctx, OpError, Outcome, NOTHING};

/// Issues a token for `member_id` (the actor itself when `None`).
pub fn create(
    ctx: &Ctx,
    member_id: Option<Id>,
    name: Option<String>,
    hash: String,
) -> Result<Outcome<TokenRecord>, OpError> {
    let target_id = member_id
        .or(ctx.actor.member_id())
        .ok_or_else(|| OpError::invalid("member_id", "name the member the token is for"))?;
    let target = ctx
        .state
        .member(&target_id)
        .ok_or_else(|| OpError::not_found("member"))?;
    if ctx.actor.member_id() != Some(target_id) {
        let for_agent = target.user_type == Some(UserType::Agent);
        let cli = ctx.actor.member_id().is_none();
        if !(cli || (is_admin(ctx) && for_agent)) {
            return Err(OpError::forbidden(
                "a member creates tokens for itself; admins also create tokens for agents",
            ));
        }
    }
    if !target.is_active() {
        return Err(OpError::conflict(
            "the member is deactivated: no token can be issued for it",
        ));
    }
    if let Some(name) = &name {
        if name.chars().count() > 200 {
            return Err(OpError::invalid(
                "name",
                "name must be at most 200 characters",
            ));
        }
    }
    let token = TokenRecord {
        id: new_id(),
        member_id: target_id,
        hash,
        name,
        created_by: ctx.actor.member_id(),
        created_at: ctx.now,
    };
    let shown =
        serde_json::json!({"id": token.id, "member_id": token.member_id, "name": token.name});
    Ok(Outcome {
        events: vec![Event::TokenCreated {
            token: token.clone(),
        }],
        audit: vec![ctx.audit(
            "token.create",
            "token",
            Some(token.id),
            NOTHING,
            Some(&shown),
        )],
        value: token,
    })
}

/// Whether the actor may see and revoke a token: its own, or any as an admin.
pub fn may_manage(ctx: &Ctx, token: &TokenRecord) -> bool {
    ctx.actor.member_id() == Some(token.member_id) || is_admin(ctx)
}

/// Revokes a token. Another member's token is "not found" to a non-admin.
pub fn revoke(ctx: &Ctx, id: Id) -> Result<Outcome<()>, OpError> {
    let token = ctx
        .state
        .token(&id)
        .filter(|t| may_manage(ctx, t))
        .ok_or_else(|| OpError::not_found("token"))?;
    let shown =
        serde_json::json!({"id": token.id, "member_id": token.member_id, "name": token.name});
    Ok(Outcome {
        value: (),
        events: vec![Event::TokenRevoked { id }],
        audit: vec![ctx.audit("token.revoke", "token", Some(id), Some(&shown), NOTHING)],
    })
}

//! Previewing a rule before it is saved (SPEC §3 "Preview"): how many members match, a
//! sample of them, and for an existing group how many would join and leave.

use roster_model::{Member, MemberKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::require_admin;
use crate::groups::{compile_rule, rule_members};
use crate::{Ctx, OpError};

/// How many members a preview shows.
pub const SAMPLE: usize = 10;

/// The body of `POST /rules/preview`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// The kind of member the rule is for.
    pub member_kind: MemberKind,
    /// The rule text.
    pub rule: String,
    /// An existing group to compare with.
    #[serde(default)]
    pub group_id: Option<Uuid>,
}

/// What a rule would do.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Preview {
    /// How many active members the rule holds for.
    pub matches: u64,
    /// Up to ten of them, oldest first.
    pub sample: Vec<Member>,
    /// With `group_id`: how many would join the group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub added: Option<u64>,
    /// With `group_id`: how many would leave it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed: Option<u64>,
}

/// Evaluates a rule without saving anything (admins).
pub fn preview(ctx: &Ctx, request: PreviewRequest) -> Result<Preview, OpError> {
    require_admin(ctx, "only admins preview rules")?;
    let group = match request.group_id {
        Some(id) => Some(
            ctx.state
                .group(&id)
                .ok_or_else(|| OpError::NotFound("group not found".into()))?,
        ),
        None => None,
    };
    if let Some(group) = group {
        if group.member_kind != request.member_kind {
            return Err(OpError::invalid(
                "member_kind",
                format!("`{}` is a {} group", group.name, group.member_kind.as_str()),
            ));
        }
    }
    let rule = compile_rule(ctx, request.member_kind, &request.rule)?;
    let members = rule_members(ctx, request.member_kind, &rule)?;
    let mut ids: Vec<_> = ctx.state.ids_of(&members).collect();
    ids.sort();
    let sample = ids
        .iter()
        .take(SAMPLE)
        .filter_map(|id| ctx.state.member(id))
        .collect();
    let (added, removed) = match group {
        Some(group) => {
            let current = ctx.state.effective_members(group);
            (
                Some((&members - &current).len()),
                Some((&current - &members).len()),
            )
        }
        None => (None, None),
    };
    Ok(Preview {
        matches: members.len(),
        sample,
        added,
        removed,
    })
}

//! Links: an admin's explicit consent that the identity provider manages a member that
//! Roster did not get from it.
//!
//! SCIM never claims an existing member by its email, and never writes to an admin on its
//! own. An admin who wants the identity provider to manage such a member links it: the
//! member becomes a provisioned user (found by `userName` as any other, so the provider's
//! usual "look up before create" finds it) and, while linked, may be written over SCIM
//! even as an admin. Linking and unlinking are audited.

use roster_model::{
    Event, Id, Member, MemberKind, ScimLink, ScimResource, ScimResourceType, UserType,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::require_admin;
use crate::{validate, Ctx, OpError, Outcome};

const RULE: &str = "only admins link members to the identity provider";

/// The body of `POST /api/v1/scim/links`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLink {
    /// The team member to link.
    pub member_id: uuid::Uuid,
    /// The `userName` the identity provider knows it by; the member's email when absent.
    #[serde(default)]
    pub user_name: Option<String>,
    /// The identity provider's own id for the user, when known.
    #[serde(default)]
    pub external_id: Option<String>,
}

/// A linked member as listed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LinkView {
    /// The member (and SCIM user) id.
    pub member_id: uuid::Uuid,
    /// Its `userName` at the identity provider.
    pub user_name: Option<String>,
    /// The identity provider's id for it.
    pub external_id: Option<String>,
    /// The admin who linked it (`null`: the command line).
    pub linked_by: Option<uuid::Uuid>,
    /// When it was linked.
    #[serde(with = "time::serde::rfc3339")]
    pub linked_at: time::OffsetDateTime,
}

impl LinkView {
    /// The view of a linked resource; `None` for one that is not linked.
    pub fn of(resource: &ScimResource) -> Option<Self> {
        let link = resource.linked.as_ref()?;
        Some(LinkView {
            member_id: resource.id,
            user_name: resource.user_name.clone(),
            external_id: resource.external_id.clone(),
            linked_by: link.by,
            linked_at: link.at,
        })
    }
}

/// Every linked member (admins).
pub fn list(ctx: &Ctx) -> Result<Vec<LinkView>, OpError> {
    require_admin(ctx, RULE)?;
    Ok(ctx
        .state
        .scim()
        .resources(ScimResourceType::User)
        .filter_map(LinkView::of)
        .collect())
}

/// Links a team member to the identity provider (admins): makes it a provisioned user if
/// it is not one, and marks it linked.
pub fn link(ctx: &Ctx, input: NewLink) -> Result<Outcome<LinkView>, OpError> {
    require_admin(ctx, RULE)?;
    let member = linkable(ctx, input.member_id)?;
    let previous = ctx.state.scim().resource(&member.id);
    if let Some(view) = previous.and_then(LinkView::of) {
        return Ok(Outcome::unchanged(view));
    }
    let record = match previous {
        Some(existing) => ScimResource {
            linked: Some(ScimLink {
                by: ctx.actor.member_id(),
                at: ctx.now,
            }),
            ..existing.clone()
        },
        None => {
            let user_name = match &input.user_name {
                Some(name) => validate::name("user_name", name)?,
                None => member.email.clone().ok_or_else(|| {
                    OpError::invalid("user_name", "the member has no email: name its userName")
                })?,
            };
            if ctx.state.scim().user_by_name(&user_name).is_some() {
                return Err(OpError::conflict(format!(
                    "another provisioned user already has the userName `{user_name}`"
                )));
            }
            let mut attributes = serde_json::Map::new();
            if let Some(email) = &member.email {
                attributes.insert(
                    "emails".into(),
                    serde_json::json!([{"value": email, "type": "work", "primary": true}]),
                );
            }
            attributes.insert("displayName".into(), member.display_name.clone().into());
            ScimResource {
                id: member.id,
                resource_type: ScimResourceType::User,
                user_name: Some(user_name),
                external_id: input.external_id.clone(),
                attributes,
                version: 1,
                created_at: ctx.now,
                updated_at: ctx.now,
                linked: Some(ScimLink {
                    by: ctx.actor.member_id(),
                    at: ctx.now,
                }),
            }
        }
    };
    let view = LinkView::of(&record).ok_or_else(|| OpError::conflict("the link was not made"))?;
    let mut outcome = Outcome::unchanged(view.clone());
    outcome.audit.push(
        ctx.audit(
            "scim.link",
            "member",
            Some(member.id),
            previous
                .map(|p| serde_json::json!({"user_name": p.user_name, "linked": false}))
                .as_ref(),
            Some(&view),
        ),
    );
    outcome
        .events
        .push(Event::ScimResourceUpserted { resource: record });
    Ok(outcome)
}

/// Removes a member's link (admins). The member stays provisioned: while it is not an
/// admin the identity provider keeps managing it as any user it created; an admin is
/// refused to SCIM again.
pub fn unlink(ctx: &Ctx, member_id: Id) -> Result<Outcome<()>, OpError> {
    require_admin(ctx, RULE)?;
    let resource = ctx
        .state
        .scim()
        .resource(&member_id)
        .filter(|r| r.resource_type == ScimResourceType::User && r.linked.is_some())
        .ok_or_else(|| OpError::not_found("link"))?;
    let before = LinkView::of(resource);
    let record = ScimResource {
        linked: None,
        ..resource.clone()
    };
    let mut outcome = Outcome::unchanged(());
    outcome.audit.push(ctx.audit(
        "scim.unlink",
        "member",
        Some(member_id),
        before.as_ref(),
        crate::NOTHING,
    ));
    outcome
        .events
        .push(Event::ScimResourceUpserted { resource: record });
    Ok(outcome)
}

/// A member that may be linked: a team member of this workspace.
fn linkable(ctx: &Ctx, id: Id) -> Result<Member, OpError> {
    let member = ctx
        .state
        .member(&id)
        .ok_or_else(|| OpError::not_found("member"))?;
    if member.kind != MemberKind::User || member.user_type != Some(UserType::TeamMember) {
        return Err(OpError::invalid(
            "member_id",
            "only team members are provisioned over SCIM; agents and customers cannot be linked",
        ));
    }
    Ok(member)
}

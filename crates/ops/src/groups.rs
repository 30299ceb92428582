//! Groups and their members: every rule of SPEC §1 "Group", "Default groups", "Owner"
//! and §2 about groups.

use roster_model::{
    new_id, DefaultGroup, Event, Group, Id, ManagedBy, Member, MemberKind, Membership,
    MembershipSource, StaticMembership,
};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::access::{actor_member, is_admin, require_admin};
use crate::patch::nullable;
use crate::{validate, Ctx, OpError, Outcome, NOTHING};

const MANAGE_RULE: &str = "only admins create, update or delete groups";
const DEFAULT_RULE: &str =
    "default groups cannot be renamed, changed or deleted: only custom groups can be updated";

/// The body of `POST /groups`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    /// Unique per workspace, case-insensitively.
    pub name: String,
    /// What the group is for.
    #[serde(default)]
    pub description: String,
    /// `user` (the default) or `customer`.
    #[serde(default)]
    pub member_kind: Option<MemberKind>,
    /// `static` (the default) or `dynamic`.
    #[serde(default)]
    pub membership: Option<Membership>,
    /// The rule of a dynamic group.
    #[serde(default)]
    pub rule: Option<String>,
    /// User groups: an internal user; defaults to the creating admin.
    #[serde(default)]
    pub owner: Option<uuid::Uuid>,
}

/// The body of `PATCH /groups/{id}`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupPatch {
    /// A new name.
    #[serde(default)]
    pub name: Option<String>,
    /// A new description.
    #[serde(default)]
    pub description: Option<String>,
    /// A new owner (user groups); the owner becomes a member if it is not one.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub owner: Option<Option<Id>>,
    /// Converting between `static` and `dynamic`.
    #[serde(default)]
    pub membership: Option<Membership>,
    /// A new rule for a dynamic group.
    #[serde(default)]
    pub rule: Option<String>,
}

fn dynamic_not_available() -> OpError {
    OpError::invalid(
        "membership",
        "dynamic groups need the rule language, which this server does not have yet; create a static group",
    )
}

/// Creates a custom static group.
pub fn create(ctx: &Ctx, input: NewGroup) -> Result<Outcome<Group>, OpError> {
    require_admin(ctx, MANAGE_RULE)?;
    if input.membership == Some(Membership::Dynamic) || input.rule.is_some() {
        return Err(dynamic_not_available());
    }
    let name = validate::name("name", &input.name)?;
    ensure_name_free(ctx, &name, None)?;
    let member_kind = input.member_kind.unwrap_or(MemberKind::User);
    let owner = match (member_kind, input.owner.or(ctx.actor.member_id())) {
        (MemberKind::Customer, _) if input.owner.is_some() => {
            return Err(OpError::invalid("owner", "customer groups have no owner"))
        }
        (MemberKind::Customer, _) | (MemberKind::User, None) => None,
        (MemberKind::User, Some(owner)) => Some(valid_owner(ctx, owner)?.id),
    };
    let group = Group {
        id: new_id(),
        name,
        description: validate::description(&input.description)?,
        member_kind,
        membership: Membership::Static,
        rule: None,
        owner,
        default_group: None,
        managed_by: ManagedBy::Roster,
        version: 1,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    let mut outcome = Outcome {
        events: vec![Event::GroupUpserted {
            group: group.clone(),
        }],
        audit: vec![ctx.audit(
            "group.create",
            "group",
            Some(group.id),
            NOTHING,
            Some(&group),
        )],
        value: group,
    };
    if let Some(owner) = owner {
        let group = outcome.value.clone();
        record_member(ctx, &mut outcome, &group, owner, MembershipSource::Manual);
    }
    Ok(outcome)
}

fn ensure_name_free(ctx: &Ctx, name: &str, except: Option<Id>) -> Result<(), OpError> {
    match ctx.state.group_by_name(name) {
        Some(other) if Some(other.id) != except => Err(OpError::conflict(format!(
            "a group named `{}` already exists in this workspace",
            other.name
        ))),
        _ => Ok(()),
    }
}

/// An owner must be an active internal user of the workspace.
fn valid_owner<'a>(ctx: &Ctx<'a>, owner: Id) -> Result<&'a Member, OpError> {
    match ctx.state.member(&owner) {
        Some(m) if m.kind == MemberKind::User && m.is_active() => Ok(m),
        Some(_) => Err(OpError::invalid(
            "owner",
            "the owner must be an active internal user",
        )),
        None => Err(OpError::invalid(
            "owner",
            "the owner is not a member of this workspace",
        )),
    }
}

/// Records a member in a static group, with its event and audit entry.
pub(crate) fn record_member<T>(
    ctx: &Ctx,
    outcome: &mut Outcome<T>,
    group: &Group,
    member_id: Id,
    source: MembershipSource,
) {
    let membership = StaticMembership {
        group_id: group.id,
        member_id,
        source,
        added_by: ctx.actor.member_id(),
        added_at: ctx.now,
    };
    outcome.audit.push(ctx.audit(
        "group.member_add",
        "group",
        Some(group.id),
        NOTHING,
        Some(&membership),
    ));
    outcome.events.push(Event::MembershipAdded { membership });
}

fn existing<'a>(ctx: &Ctx<'a>, id: Id) -> Result<&'a Group, OpError> {
    ctx.state
        .group(&id)
        .ok_or_else(|| OpError::not_found("group"))
}

/// Refuses when the client named a version (`If-Match`) that is no longer current.
pub fn check_version(group: &Group, expected: Option<i64>) -> Result<(), OpError> {
    match expected {
        Some(v) if v != group.version => Err(OpError::PreconditionFailed(format!(
            "the group is at version {}, not {v}",
            group.version
        ))),
        _ => Ok(()),
    }
}

/// Renames, describes or re-owns a custom group.
pub fn update(
    ctx: &Ctx,
    id: Id,
    patch: GroupPatch,
    expected_version: Option<i64>,
) -> Result<Outcome<Group>, OpError> {
    let before = existing(ctx, id)?;
    require_admin(ctx, MANAGE_RULE)?;
    if before.is_default() {
        return Err(OpError::conflict(DEFAULT_RULE));
    }
    check_version(before, expected_version)?;
    if patch.membership == Some(Membership::Dynamic) || patch.rule.is_some() {
        return Err(dynamic_not_available());
    }
    let mut group = before.clone();
    if let Some(name) = &patch.name {
        group.name = validate::name("name", name)?;
        ensure_name_free(ctx, &group.name, Some(id))?;
    }
    if let Some(description) = &patch.description {
        group.description = validate::description(description)?;
    }
    let mut new_owner = None;
    if let Some(owner) = patch.owner {
        match (group.member_kind, owner) {
            (MemberKind::Customer, Some(_)) => {
                return Err(OpError::invalid("owner", "customer groups have no owner"))
            }
            (MemberKind::Customer, None) => {}
            (MemberKind::User, None) => {
                return Err(OpError::invalid(
                    "owner",
                    "a user group always has an owner",
                ))
            }
            (MemberKind::User, Some(owner)) => {
                valid_owner(ctx, owner)?;
                if group.owner != Some(owner) {
                    group.owner = Some(owner);
                    new_owner = Some(owner);
                }
            }
        }
    }
    if group == *before {
        return Ok(Outcome::unchanged(group));
    }
    group.version += 1;
    group.updated_at = ctx.now;
    let mut outcome = Outcome {
        events: vec![Event::GroupUpserted {
            group: group.clone(),
        }],
        audit: vec![ctx.audit(
            "group.update",
            "group",
            Some(id),
            Some(before),
            Some(&group),
        )],
        value: group,
    };
    if let Some(owner) = new_owner {
        if ctx.state.static_membership(&id, &owner).is_none() {
            let group = outcome.value.clone();
            record_member(ctx, &mut outcome, &group, owner, MembershipSource::Manual);
        }
    }
    Ok(outcome)
}

/// Deletes a custom group with its memberships.
pub fn delete(ctx: &Ctx, id: Id, expected_version: Option<i64>) -> Result<Outcome<()>, OpError> {
    let group = existing(ctx, id)?;
    require_admin(ctx, MANAGE_RULE)?;
    if group.is_default() {
        return Err(OpError::conflict(DEFAULT_RULE));
    }
    check_version(group, expected_version)?;
    Ok(Outcome {
        value: (),
        events: vec![Event::GroupDeleted { id }],
        audit: vec![ctx.audit("group.delete", "group", Some(id), Some(group), NOTHING)],
    })
}

/// Refuses hand edits of groups whose members nobody keeps by hand.
fn ensure_hand_kept(group: &Group) -> Result<(), OpError> {
    if group.is_maintained() {
        return Err(OpError::conflict(format!(
            "`{}` is maintained by Roster: nobody adds or removes its members by hand",
            group.name
        )));
    }
    if group.membership == Membership::Dynamic {
        return Err(OpError::conflict(format!(
            "`{}` is a dynamic group: its members follow its rule and cannot be added or removed by hand",
            group.name
        )));
    }
    if group.managed_by == ManagedBy::Scim {
        return Err(OpError::conflict(format!(
            "`{}` is managed by the identity provider: change its members there",
            group.name
        )));
    }
    Ok(())
}

/// Who may add `member` to or remove it from `group` (SPEC §2).
fn ensure_may_edit_members(
    ctx: &Ctx,
    group: &Group,
    member: &Member,
    verb: &str,
) -> Result<(), OpError> {
    if is_admin(ctx) {
        return Ok(());
    }
    let actor = actor_member(ctx);
    match group.default_group {
        Some(DefaultGroup::Admins) => Err(OpError::forbidden(format!(
            "only admins {verb} members of Admins"
        ))),
        Some(DefaultGroup::CustomerAdmins) => {
            let same_account = actor.is_some_and(|a| {
                a.kind == MemberKind::Customer
                    && a.account.is_some()
                    && a.account == member.account
                    && ctx.state.is_effective_member(group, &a.id)
            });
            if same_account {
                Ok(())
            } else {
                Err(OpError::forbidden(format!(
                    "only admins, and customer admins of the same account, {verb} members of Customer Admins"
                )))
            }
        }
        _ => {
            if actor.is_some_and(|a| ctx.state.is_effective_member(group, &a.id)) {
                Ok(())
            } else {
                Err(OpError::forbidden(format!(
                    "only admins and the group's own members {verb} its members"
                )))
            }
        }
    }
}

/// Adds a member to a static group by hand. Adding a member already recorded changes
/// nothing and answers the existing record (`false`: nothing created).
pub fn add_member(
    ctx: &Ctx,
    group_id: Id,
    member_id: Id,
) -> Result<Outcome<(StaticMembership, bool)>, OpError> {
    let group = existing(ctx, group_id)?;
    let member = ctx
        .state
        .member(&member_id)
        .ok_or_else(|| OpError::not_found("member"))?;
    ensure_hand_kept(group)?;
    ensure_may_edit_members(ctx, group, member, "add")?;
    if member.kind != group.member_kind {
        return Err(OpError::invalid(
            "member_id",
            format!(
                "`{}` is a {} group and the member is a {}: a group holds members of one kind only",
                group.name,
                group.member_kind.as_str(),
                member.kind.as_str()
            ),
        ));
    }
    if let Some(existing) = ctx.state.static_membership(&group_id, &member_id) {
        return Ok(Outcome::unchanged((existing.clone(), false)));
    }
    let membership = StaticMembership {
        group_id,
        member_id,
        source: MembershipSource::Manual,
        added_by: ctx.actor.member_id(),
        added_at: ctx.now,
    };
    let mut outcome = Outcome::unchanged((membership, true));
    record_member(
        ctx,
        &mut outcome,
        group,
        member_id,
        MembershipSource::Manual,
    );
    Ok(outcome)
}

/// Removes a member from a static group by hand.
pub fn remove_member(ctx: &Ctx, group_id: Id, member_id: Id) -> Result<Outcome<()>, OpError> {
    let group = existing(ctx, group_id)?;
    let record = ctx
        .state
        .static_membership(&group_id, &member_id)
        .ok_or_else(|| OpError::NotFound("the member is not in this group".into()))?;
    let member = ctx
        .state
        .member(&member_id)
        .ok_or_else(|| OpError::not_found("member"))?;
    ensure_hand_kept(group)?;
    ensure_may_edit_members(ctx, group, member, "remove")?;
    if group.owner == Some(member_id) {
        return Err(OpError::conflict(
            "the owner cannot be removed from the group; an admin first changes the owner",
        ));
    }
    if group.default_group == Some(DefaultGroup::Admins)
        && ctx.state.is_admin(&member_id)
        && ctx.state.active_admin_count() <= 1
    {
        return Err(OpError::conflict(
            "the last active admin cannot be removed from Admins",
        ));
    }
    Ok(Outcome {
        value: (),
        events: vec![Event::MembershipRemoved {
            group_id,
            member_id,
        }],
        audit: vec![ctx.audit(
            "group.member_remove",
            "group",
            Some(group_id),
            Some(record),
            NOTHING,
        )],
    })
}

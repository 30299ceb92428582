//! Groups and their members: every rule of SPEC §1 "Group", "Default groups", "Owner"
//! and §2 about groups.

use roaring::RoaringBitmap;
use roster_model::{
    new_id, DefaultGroup, Event, Group, Id, ManagedBy, Member, MemberKind, Membership,
    MembershipSource, StaticMembership,
};
use serde::{Deserialize, Serialize};
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
    /// A new name (`null` is refused: a group always has one).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    /// A new description (`null` clears it).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// A new owner (user groups); the owner becomes a member if it is not one.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub owner: Option<Option<Id>>,
    /// Converting between `static` and `dynamic`.
    #[serde(default)]
    pub membership: Option<Membership>,
    /// A new rule for a dynamic group. `null` removes the rule, which only a group that
    /// is (or is being made) static can do: a dynamic group without a rule is refused.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub rule: Option<Option<String>>,
}

/// What saving a group did to its effective membership, when its rule or its kind of
/// membership changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct RuleEffect {
    /// Members who joined.
    pub added: u64,
    /// Members who left.
    pub removed: u64,
}

/// A saved group and, when membership was recomputed, the effect.
pub type Saved = (Group, Option<RuleEffect>);

/// Compiles rule text against the schema of a member kind, or refuses with every error.
pub fn compile_rule(
    ctx: &Ctx,
    kind: MemberKind,
    text: &str,
) -> Result<roster_rules::Rule, OpError> {
    roster_rules::compile(text, &ctx.state.schema(kind)).map_err(OpError::Rule)
}

/// The most one request may spend evaluating a rule over a workspace's members, in the
/// engine's cost units (`CompiledRule::cost`: about one distinct text value tested, or
/// 32 bytes of values searched; 5 to 12 ns each): about 30 ms of one core per
/// evaluation, and a save evaluates up to three times. A preview, a save and a
/// conversion evaluate the rule while holding the workspace's engine, so a rule past it
/// would stall the workspace; it is refused instead, before anything is evaluated.
pub const RULE_COST_BUDGET: u64 = 5_000_000;

/// The effective members a rule would give a group of a kind right now; `422` on `rule`
/// when evaluating it would cost more than [`RULE_COST_BUDGET`].
pub fn rule_members(
    ctx: &Ctx,
    kind: MemberKind,
    rule: &roster_rules::Rule,
) -> Result<RoaringBitmap, OpError> {
    let state = ctx.state;
    let dynamic = state.dynamic();
    let members = state.kind_set(kind).len();
    let cost = dynamic.evaluation_cost(kind, rule, members);
    if cost > RULE_COST_BUDGET {
        return Err(OpError::invalid(
            "rule",
            format!(
                "evaluating this rule over the workspace's {members} {} member(s) would cost \
                 {cost} units, more than the {RULE_COST_BUDGET} one request may spend: \
                 CONTAINS, and STARTS WITH or ENDS WITH on an attribute no saved rule reads \
                 that way, test every distinct value of their attribute, so use fewer of \
                 them, or `=` and `in`",
                kind.as_str()
            ),
        ));
    }
    let universe = state.kind_set(kind) & state.active_set();
    Ok(dynamic.evaluate(kind, rule, &universe))
}

fn effect(before: &RoaringBitmap, after: &RoaringBitmap) -> RuleEffect {
    RuleEffect {
        added: (after - before).len(),
        removed: (before - after).len(),
    }
}

/// Which membership and rule a create or update asks for.
fn membership_and_rule(
    membership: Option<Membership>,
    rule: Option<String>,
    current: Option<(Membership, Option<String>)>,
) -> Result<(Membership, Option<String>), OpError> {
    // An explicit choice first, then what an existing group is; a new group with a rule
    // is dynamic. Setting a rule never converts a static group by itself.
    let membership = membership
        .or(current.as_ref().map(|(m, _)| *m))
        .or(rule.as_ref().map(|_| Membership::Dynamic))
        .unwrap_or(Membership::Static);
    match membership {
        Membership::Static if rule.is_some() => Err(OpError::invalid(
            "rule",
            "a static group has no rule; set `membership` to `dynamic`",
        )),
        Membership::Static => Ok((membership, None)),
        Membership::Dynamic => {
            let rule = rule
                .or(current.and_then(|(_, r)| r))
                .ok_or_else(|| OpError::invalid("rule", "a dynamic group needs a `rule`"))?;
            Ok((membership, Some(rule)))
        }
    }
}

/// Creates a custom group: static, or dynamic with a rule that must check.
pub fn create(ctx: &Ctx, input: NewGroup) -> Result<Outcome<Saved>, OpError> {
    require_admin(ctx, MANAGE_RULE)?;
    let (membership, rule) = membership_and_rule(input.membership, input.rule, None)?;
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
    let members = match &rule {
        Some(text) => Some(rule_members(
            ctx,
            member_kind,
            &compile_rule(ctx, member_kind, text)?,
        )?),
        None => None,
    };
    let group = Group {
        id: new_id(),
        name,
        description: validate::description(&input.description)?,
        member_kind,
        membership,
        rule,
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
        value: (
            group,
            members.map(|m| RuleEffect {
                added: m.len(),
                removed: 0,
            }),
        ),
    };
    // The owner of a static group is always a member; a dynamic group's members follow
    // its rule alone.
    if let (Some(owner), Membership::Static) = (owner, membership) {
        let group = outcome.value.0.clone();
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
fn valid_owner(ctx: &Ctx, owner: Id) -> Result<Member, OpError> {
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
    record_member_by(
        ctx,
        outcome,
        group,
        member_id,
        source,
        ctx.actor.member_id(),
    );
}

/// Records a member in a static group on someone else's behalf (an invitation accepted
/// records its inviter as the one who added the invitee).
pub(crate) fn record_member_by<T>(
    ctx: &Ctx,
    outcome: &mut Outcome<T>,
    group: &Group,
    member_id: Id,
    source: MembershipSource,
    added_by: Option<Id>,
) {
    let membership = StaticMembership {
        group_id: group.id,
        member_id,
        source,
        added_by,
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
    validate::version("group", group.version, expected)
}

/// Renames, describes, re-owns a custom group, changes its rule, or converts it between
/// static and dynamic.
pub fn update(
    ctx: &Ctx,
    id: Id,
    patch: GroupPatch,
    expected_version: Option<i64>,
) -> Result<Outcome<Saved>, OpError> {
    let before = existing(ctx, id)?;
    require_admin(ctx, MANAGE_RULE)?;
    if before.is_default() {
        return Err(OpError::conflict(DEFAULT_RULE));
    }
    check_version(before, expected_version)?;
    if before.managed_by == ManagedBy::Scim && patch.membership == Some(Membership::Dynamic) {
        return Err(OpError::conflict(
            "a group managed by the identity provider stays static",
        ));
    }
    // JSON Merge Patch: `"rule": null` asks for no rule, which a group that stays
    // dynamic cannot have; said plainly rather than ignored.
    let staying_dynamic = patch.membership.unwrap_or(before.membership) == Membership::Dynamic;
    if patch.rule == Some(None) && staying_dynamic {
        return Err(OpError::invalid(
            "rule",
            "a dynamic group needs a `rule`; to stop following one, set `membership` to `static`",
        ));
    }
    let (membership, rule) = membership_and_rule(
        patch.membership,
        patch.rule.clone().flatten(),
        Some((before.membership, before.rule.clone())),
    )?;
    let mut group = before.clone();
    group.membership = membership;
    group.rule = rule;
    match &patch.name {
        Some(Some(name)) => {
            group.name = validate::name("name", name)?;
            ensure_name_free(ctx, &group.name, Some(id))?;
        }
        Some(None) => {
            return Err(OpError::invalid(
                "name",
                "a group always has a name: `null` cannot remove it",
            ))
        }
        None => {}
    }
    if let Some(description) = &patch.description {
        group.description = validate::description(description.as_deref().unwrap_or(""))?;
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
        return Ok(Outcome::unchanged((group, None)));
    }
    let recomputed = group.membership != before.membership || group.rule != before.rule;
    let old_members = ctx.state.effective_members(before);
    let rule_set = match (&group.membership, &group.rule) {
        (Membership::Dynamic, Some(text)) if recomputed => Some(rule_members(
            ctx,
            group.member_kind,
            &compile_rule(ctx, group.member_kind, text)?,
        )?),
        _ => None,
    };
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
        value: (group.clone(), None),
    };
    let mut new_members = old_members.clone();
    match (before.membership, group.membership) {
        (Membership::Static, Membership::Dynamic) => {
            // The rule's result replaces the hand-kept list.
            for record in ctx.state.static_memberships(&id) {
                outcome.audit.push(ctx.audit(
                    "group.member_remove",
                    "group",
                    Some(id),
                    Some(record),
                    NOTHING,
                ));
                outcome.events.push(Event::MembershipRemoved {
                    group_id: id,
                    member_id: record.member_id,
                });
            }
        }
        (Membership::Dynamic, Membership::Static) => {
            // The current members become the hand-kept list (deactivated ones the rule
            // holds for included, so that reactivating them changes nothing).
            let frozen: Vec<Id> = ctx
                .state
                .dynamic()
                .members(&id)
                .map(|set| ctx.state.ids_of(set).collect())
                .unwrap_or_default();
            for member_id in frozen {
                record_member(
                    ctx,
                    &mut outcome,
                    &group,
                    member_id,
                    MembershipSource::System,
                );
            }
        }
        _ => {}
    }
    if let Some(set) = rule_set {
        new_members = set;
    }
    let owner_to_record = new_owner
        .or(group
            .owner
            .filter(|_| before.membership == Membership::Dynamic))
        .filter(|_| group.membership == Membership::Static);
    if let Some(owner) = owner_to_record {
        let frozen_already = outcome.events.iter().any(
            |e| matches!(e, Event::MembershipAdded { membership } if membership.member_id == owner),
        );
        if ctx.state.static_membership(&id, &owner).is_none() && !frozen_already {
            record_member(ctx, &mut outcome, &group, owner, MembershipSource::Manual);
        }
        if let Some(slot) = ctx.state.slot(&owner) {
            if ctx.state.active_set().contains(slot) {
                new_members.insert(slot);
            }
        }
    }
    if recomputed || new_members != old_members {
        outcome.value.1 = Some(effect(&old_members, &new_members));
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
    Ok(deletion(ctx, group))
}

/// The events and audit entries of deleting a group the caller may delete: its roles
/// revoked, each recorded membership leaving with it.
pub(crate) fn deletion(ctx: &Ctx, group: &Group) -> Outcome<()> {
    let id = group.id;
    // Each recorded membership leaves with the group, and each has its own entry.
    let audit: Vec<_> = ctx
        .state
        .static_memberships(&id)
        .map(|record| {
            ctx.audit(
                "group.member_remove",
                "group",
                Some(id),
                Some(record),
                NOTHING,
            )
        })
        .collect();
    // Its roles are revoked first, each in the audit and change logs.
    let mut outcome = Outcome::unchanged(());
    crate::roles::revoke_all_of_group(ctx, &mut outcome, id);
    outcome.audit.extend(audit);
    outcome
        .audit
        .push(ctx.audit("group.delete", "group", Some(id), Some(group), NOTHING));
    outcome.events.push(Event::GroupDeleted { id });
    outcome
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
    ensure_may_edit_members(ctx, group, &member, "add")?;
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
    let member = ctx
        .state
        .member(&member_id)
        .ok_or_else(|| OpError::not_found("member"))?;
    ensure_hand_kept(group)?;
    let record = ctx
        .state
        .static_membership(&group_id, &member_id)
        .ok_or_else(|| OpError::NotFound("the member is not in this group".into()))?;
    ensure_may_edit_members(ctx, group, &member, "remove")?;
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

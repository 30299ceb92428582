//! The access check and its companions (SPEC §1 "Roles and privileges", §2): may a
//! member do something, why (or why not), and who may.
//!
//! A member holds a privilege when it is active and an effective member of a group that
//! has a role granting it; members of Admins hold every privilege. Internal users ask
//! about themselves, admins about anyone.

use std::collections::BTreeMap;

use roster_model::{
    DefaultGroup, Grant, Group, Id, Member, MemberKind, Membership, MembershipSource, ObjectType,
    Privilege,
};
use roster_rules::Value;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::{is_admin, is_internal};
use crate::{Ctx, OpError};

/// The most questions one batch may ask.
pub const MAX_BATCH: usize = 10_000;

const ASK_RULE: &str = "internal users check access for themselves; admins check anyone";
const WHO_RULE: &str = "only admins list who holds a privilege";

/// One question: may this member do this to objects of this type?
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// The member asked about.
    pub member_id: uuid::Uuid,
    /// What it would do.
    pub privilege: Privilege,
    /// To what kind of object.
    pub object_type: ObjectType,
}

impl Question {
    /// The grant the question asks about.
    pub fn grant(&self) -> Grant {
        Grant {
            object_type: self.object_type,
            privilege: self.privilege,
        }
    }
}

/// Refuses unless the actor may ask about `member_id`: itself as an internal user, or
/// anyone as an admin. A member of another workspace is not found, as if it did not
/// exist.
pub fn may_ask(ctx: &Ctx, member_id: &Id) -> Result<(), OpError> {
    if !ctx.state.has_member(member_id) {
        return Err(OpError::not_found("member"));
    }
    let itself = ctx.actor.member_id() == Some(*member_id);
    if (itself && is_internal(ctx)) || is_admin(ctx) {
        Ok(())
    } else {
        Err(OpError::forbidden(ASK_RULE))
    }
}

/// Answers one question.
pub fn check(ctx: &Ctx, question: &Question) -> Result<bool, OpError> {
    may_ask(ctx, &question.member_id)?;
    Ok(ctx.state.allows(&question.member_id, question.grant()))
}

/// Answers many questions, in order; a batch is refused whole (naming the first
/// question at fault) rather than answered in part.
pub fn check_all(ctx: &Ctx, questions: &[Question]) -> Result<Vec<bool>, OpError> {
    if questions.len() > MAX_BATCH {
        return Err(OpError::invalid(
            "checks",
            format!(
                "at most {MAX_BATCH} checks in one batch, not {}",
                questions.len()
            ),
        ));
    }
    let admin = is_admin(ctx);
    let actor = ctx.actor.member_id();
    let internal = admin || is_internal(ctx);
    let asked: Vec<(Id, Grant)> = questions.iter().map(|q| (q.member_id, q.grant())).collect();
    let answers = ctx.state.allows_many(&asked);
    questions
        .iter()
        .zip(answers)
        .enumerate()
        .map(|(at, (q, answer))| {
            let Some(allowed) = answer else {
                return Err(OpError::NotFound(format!("checks[{at}]: member not found")));
            };
            if !(admin || (internal && actor == Some(q.member_id))) {
                return Err(OpError::Forbidden(format!("checks[{at}]: {ASK_RULE}")));
            }
            Ok(allowed)
        })
        .collect()
}

/// Why a member is in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Added by someone.
    Manual,
    /// Joined by invitation.
    Invitation,
    /// Provisioned by the identity provider.
    Scim,
    /// Added by Roster (bootstrap, joining Platform Users, owner).
    System,
    /// Every member of its kind belongs (All Users, Customers).
    Default,
    /// The group's rule holds for the member.
    Rule,
}

impl From<MembershipSource> for Reason {
    fn from(source: MembershipSource) -> Self {
        match source {
            MembershipSource::Manual => Reason::Manual,
            MembershipSource::Invitation => Reason::Invitation,
            MembershipSource::Scim => Reason::Scim,
            MembershipSource::System => Reason::System,
        }
    }
}

/// A group or role as an explanation names it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Named {
    /// Its id.
    pub id: uuid::Uuid,
    /// Its name.
    pub name: String,
}

/// Why a member is in a group: how it joined, and for a dynamic group the rule with the
/// member's values of the attributes the rule reads.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MembershipWhy {
    /// How the member belongs.
    pub reason: Reason,
    /// The rule that matched (dynamic groups).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The member's values of the attributes the rule reads (missing ones are `null`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub values: Option<BTreeMap<String, serde_json::Value>>,
}

/// One way the member holds the privilege: member → group (and why) → role → privilege.
/// Admin membership is a path with no role.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GrantPath {
    /// The group.
    pub group: Named,
    /// Why the member is in it.
    pub membership: MembershipWhy,
    /// The role that grants the privilege; none for Admins, which grants everything.
    pub role: Option<Named>,
    /// Whether this is the admin path.
    pub admin: bool,
    /// The privilege granted.
    pub privilege: Grant,
}

/// What a denied member lacks.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Missing {
    /// The member is deactivated, which denies everything.
    pub deactivated: bool,
    /// The groups with a role granting the privilege (the member is in none of them, or
    /// is deactivated), each with those roles.
    pub groups_granting: Vec<GrantingGroup>,
}

/// A group with the roles by which it grants a privilege.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GrantingGroup {
    /// The group.
    pub group: Named,
    /// Its roles that grant the privilege.
    pub roles: Vec<Named>,
}

/// The answer of `POST /access/explain`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Explanation {
    /// Whether the member holds the privilege.
    pub allowed: bool,
    /// Every path that grants it (empty when denied).
    pub paths: Vec<GrantPath>,
    /// When denied: what is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<Missing>,
}

fn named_group(group: &Group) -> Named {
    Named {
        id: group.id,
        name: group.name.clone(),
    }
}

/// Why `member` is in `group` (which it is, raw membership).
fn membership_why(ctx: &Ctx, group: &Group, member: &Member) -> MembershipWhy {
    match group.default_group {
        Some(DefaultGroup::AllUsers) | Some(DefaultGroup::Customers) => MembershipWhy {
            reason: Reason::Default,
            rule: None,
            values: None,
        },
        _ if group.membership == Membership::Dynamic => {
            let rule = group.rule.clone().unwrap_or_default();
            let values = roster_engine::dynamic::attribute_values(member);
            let read = roster_rules::compile(&rule, &ctx.state.schema(group.member_kind))
                .map(|r| {
                    r.attributes()
                        .into_iter()
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            let values = read
                .into_iter()
                .map(|name| {
                    let value = match values.get(&name) {
                        Some(Value::Text(t)) => serde_json::Value::from(t.clone()),
                        Some(Value::Number(n)) => serde_json::Value::from(*n),
                        Some(Value::Bool(b)) => serde_json::Value::from(*b),
                        None => serde_json::Value::Null,
                    };
                    (name, value)
                })
                .collect();
            MembershipWhy {
                reason: Reason::Rule,
                rule: Some(rule),
                values: Some(values),
            }
        }
        _ => MembershipWhy {
            reason: ctx
                .state
                .static_membership(&group.id, &member.id)
                .map_or(Reason::Manual, |r| r.source.into()),
            rule: None,
            values: None,
        },
    }
}

/// Every path by which the member holds the privilege, or what it lacks.
pub fn explain(ctx: &Ctx, question: &Question) -> Result<Explanation, OpError> {
    may_ask(ctx, &question.member_id)?;
    let member = ctx
        .state
        .member(&question.member_id)
        .ok_or_else(|| OpError::not_found("member"))?;
    let grant = question.grant();
    let permissions = ctx.state.permissions();
    let mut paths = Vec::new();
    let mut granting = Vec::new();
    for (group_id, mask) in permissions.granting_groups() {
        if mask & grant.bit() == 0 {
            continue;
        }
        let Some(group) = ctx.state.group(group_id) else {
            continue;
        };
        let admin = group.default_group == Some(DefaultGroup::Admins);
        let roles: Vec<Named> = permissions
            .assignments_of(group_id)
            .filter_map(|a| permissions.role(&a.role_id))
            .filter(|r| r.mask() & grant.bit() != 0)
            .map(|r| Named {
                id: r.id,
                name: r.name.clone(),
            })
            .collect();
        let same_kind = member.kind == group.member_kind;
        if same_kind && ctx.state.is_effective_member(group, &member.id) {
            let why = membership_why(ctx, group, &member);
            if admin {
                paths.push(GrantPath {
                    group: named_group(group),
                    membership: why.clone(),
                    role: None,
                    admin: true,
                    privilege: grant,
                });
            }
            for role in &roles {
                paths.push(GrantPath {
                    group: named_group(group),
                    membership: why.clone(),
                    role: Some(role.clone()),
                    admin: false,
                    privilege: grant,
                });
            }
        }
        if same_kind && !roles.is_empty() {
            granting.push(GrantingGroup {
                group: named_group(group),
                roles,
            });
        }
    }
    paths.sort_by(|a, b| (b.admin, a.group.id).cmp(&(a.admin, b.group.id)));
    granting.sort_by_key(|g| g.group.id);
    let allowed = ctx.state.allows(&member.id, grant);
    let missing = (!allowed).then(|| Missing {
        deactivated: !member.is_active(),
        groups_granting: granting,
    });
    Ok(Explanation {
        allowed,
        paths: if allowed { paths } else { Vec::new() },
        missing,
    })
}

/// A page of the members holding a privilege, and how many hold it in all.
pub struct Holders {
    /// The members of this page, in id order.
    pub members: Vec<Member>,
    /// Where the next page starts, when more may follow.
    pub next: Option<Id>,
    /// How many members hold the privilege.
    pub count: u64,
}

/// The active members holding a privilege, in id order after `after` (admins). The
/// page walks at most `visit` members, so where holders are rare it may be short, with
/// `next` set to continue.
pub fn who(
    ctx: &Ctx,
    grant: Grant,
    kind: Option<MemberKind>,
    after: Option<Id>,
    limit: usize,
    visit: usize,
) -> Result<Holders, OpError> {
    if !is_admin(ctx) {
        return Err(OpError::forbidden(WHO_RULE));
    }
    let mut holders = ctx.state.permissions().holders(grant);
    if let Some(kind) = kind {
        holders &= ctx.state.kind_set(kind);
    }
    let (members, next) = ctx
        .state
        .page_after(after, None, Some(&holders), limit, visit);
    Ok(Holders {
        members,
        next,
        count: holders.len(),
    })
}

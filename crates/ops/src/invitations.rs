//! Invitations (SPEC §1 "Invitation"): members bring people into the static user groups
//! they belong to, by email; admins into any static user group.
//!
//! The secret token is made by the caller; operations see only its hash (`mint` returns
//! the hash of a fresh secret and the caller keeps the secret for the link). Sending the
//! email is the caller's too: an operation only says whether a message is due.

use std::collections::{BTreeMap, BTreeSet};

use roster_model::{
    new_id, Actor, DefaultGroup, Delivery, DeliveryState, Event, Group, Id, Invitation,
    InvitationState, Issue, ManagedBy, Member, MemberKind, MemberState, Membership,
    MembershipSource, Timestamp, TokenRecord, UserType,
};
use serde::{Deserialize, Serialize};
use time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::{actor_member, is_admin};
use crate::groups::record_member_by;
use crate::{validate, Ctx, ItemError, OpError, Outcome, NOTHING};

/// Lifetime of an invitation when the request names none: 7 days.
pub const DEFAULT_EXPIRES_IN: i64 = 7 * 24 * 3600;
/// Longest lifetime an invitation may be given: 30 days.
pub const MAX_EXPIRES_IN: i64 = 30 * 24 * 3600;
/// Most emails one request may name.
pub const MAX_EMAILS: usize = 1000;
/// Invitations a member may issue per hour unless the server is configured otherwise.
pub const DEFAULT_PER_HOUR: u32 = 100;

/// The one answer to a token that cannot be accepted, whatever the reason, so that the
/// answer tells a guesser nothing.
pub const UNUSABLE: &str =
    "this invitation is unknown, already accepted, revoked or expired; ask for a new one";

const INVITE_RULE: &str =
    "a member may invite only into the static user groups it belongs to; admins into any static user group";

/// How this server delivers invitations and how many a member may issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Whether invitation emails are sent (a mail server is configured).
    pub by_mail: bool,
    /// Invitation tokens one member may issue per hour (creations and resends).
    pub per_hour: u32,
}

/// The body of `POST /invitations`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvitations {
    /// One invitation per distinct address (compared case-insensitively).
    pub emails: Vec<String>,
    /// The static user groups to join; Platform Users when absent.
    #[serde(default)]
    pub groups: Option<Vec<Uuid>>,
    /// Seconds until the invitation expires: 7 days by default, at most 30 days.
    #[serde(default)]
    pub expires_in: Option<i64>,
}

/// The body of `POST /invitations/{id}/resend`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resend {
    /// Seconds the new token lives; the invitation's original lifetime when absent.
    #[serde(default)]
    pub expires_in: Option<i64>,
}

/// The body of `POST /invitations/accept`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Accept {
    /// The token from the invitation link.
    pub token: String,
    /// The new member's name; the email address when absent. Ignored when a member with
    /// the invited address already exists.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// An invitation as readers see it: never its token or hash, and `expired` computed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvitationView {
    /// The invitation's id.
    pub id: Uuid,
    /// The invited address.
    pub email: String,
    /// The groups the invitee joins.
    pub groups: Vec<Uuid>,
    /// Who invited (`null`: the command line).
    pub invited_by: Option<Uuid>,
    /// `pending`, `accepted`, `revoked` or `expired`.
    pub state: InvitationState,
    /// When the current token stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: time::OffsetDateTime,
    /// Where its email stands.
    pub delivery: Delivery,
    /// The member who accepted it.
    pub accepted_by: Option<Uuid>,
    /// When it was accepted.
    #[serde(with = "time::serde::rfc3339::option")]
    pub accepted_at: Option<time::OffsetDateTime>,
    /// Who revoked it.
    pub revoked_by: Option<Uuid>,
    /// When it was revoked.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<time::OffsetDateTime>,
    /// How many tokens were issued for it (1 + resends).
    pub sends: usize,
    /// Changes on every update.
    pub version: i64,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: time::OffsetDateTime,
}

impl InvitationView {
    /// The view of an invitation at `now`.
    pub fn of(invitation: &Invitation, now: Timestamp) -> Self {
        InvitationView {
            id: invitation.id,
            email: invitation.email.clone(),
            groups: invitation.groups.clone(),
            invited_by: invitation.invited_by,
            state: invitation.state_at(now),
            expires_at: invitation.expires_at,
            delivery: invitation.delivery.clone(),
            accepted_by: invitation.accepted_by,
            accepted_at: invitation.accepted_at,
            revoked_by: invitation.revoked_by,
            revoked_at: invitation.revoked_at,
            sends: invitation.issued.len(),
            version: invitation.version,
            created_at: invitation.created_at,
            updated_at: invitation.updated_at,
        }
    }
}

/// What became of one email of a `POST /invitations`.
#[derive(Debug, Clone)]
pub enum EmailResult {
    /// An invitation was created; its token's secret is the caller's.
    Invited(Box<Invitation>),
    /// The address belongs to an active team member, who was added to the groups at once
    /// (`added` lists the groups it was not already in).
    Added {
        /// The address as given.
        email: String,
        /// The member.
        member_id: Id,
        /// The groups it joined now.
        added: Vec<Id>,
    },
}

/// What a `POST /invitations` decided, with what its emails need.
#[derive(Debug, Clone)]
pub struct Created {
    /// One result per distinct address, in request order.
    pub results: Vec<EmailResult>,
    /// Names for the email: the workspace, the inviter, the groups.
    pub letter: Letter,
}

/// What an invitation email says besides its link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Letter {
    /// The workspace's name.
    pub workspace: String,
    /// The inviter's display name (`None`: an operator).
    pub inviter: Option<String>,
    /// The names of the groups, in the invitation's order.
    pub groups: Vec<String>,
}

/// Invites each address into the groups (Platform Users when none are named).
pub fn create(
    ctx: &Ctx,
    input: NewInvitations,
    policy: Policy,
    mint: &mut dyn FnMut() -> String,
) -> Result<Outcome<Created>, OpError> {
    let groups = invitable_groups(ctx, input.groups.as_deref())?;
    let expires_in = lifetime(input.expires_in)?;
    let addresses = addresses(ctx, &input.emails)?;
    let invited = addresses
        .iter()
        .filter(|(_, existing)| existing.is_none())
        .count();
    rate_limit(ctx, policy, invited)?;

    let mut outcome = Outcome::unchanged(Created {
        results: Vec::new(),
        letter: letter(ctx, &groups),
    });
    for (email, existing) in addresses {
        let result = match existing {
            Some(member) => {
                let mut added = Vec::new();
                for group in &groups {
                    if ctx.state.static_membership(&group.id, &member.id).is_none() {
                        let by = ctx.actor.member_id();
                        record_member_by(
                            ctx,
                            &mut outcome,
                            group,
                            member.id,
                            MembershipSource::Invitation,
                            by,
                        );
                        added.push(group.id);
                    }
                }
                EmailResult::Added {
                    email,
                    member_id: member.id,
                    added,
                }
            }
            None => {
                let invitation = Invitation {
                    id: new_id(),
                    email,
                    groups: groups.iter().map(|g| g.id).collect(),
                    invited_by: ctx.actor.member_id(),
                    token_hash: mint(),
                    state: InvitationState::Pending,
                    expires_in,
                    expires_at: ctx.now + Duration::seconds(expires_in),
                    issued: vec![Issue {
                        at: ctx.now,
                        by: ctx.actor.member_id(),
                    }],
                    delivery: Delivery::new(policy.by_mail),
                    accepted_by: None,
                    accepted_at: None,
                    revoked_by: None,
                    revoked_at: None,
                    version: 1,
                    created_at: ctx.now,
                    updated_at: ctx.now,
                };
                let view = InvitationView::of(&invitation, ctx.now);
                outcome.audit.push(ctx.audit(
                    "invitation.create",
                    "invitation",
                    Some(invitation.id),
                    NOTHING,
                    Some(&view),
                ));
                outcome.events.push(Event::InvitationUpserted {
                    invitation: invitation.clone(),
                });
                EmailResult::Invited(Box::new(invitation))
            }
        };
        outcome.value.results.push(result);
    }
    Ok(outcome)
}

/// The groups named (or Platform Users), each one the actor may invite into.
fn invitable_groups<'a>(ctx: &Ctx<'a>, named: Option<&[Id]>) -> Result<Vec<&'a Group>, OpError> {
    let admin = is_admin(ctx);
    if !admin {
        let actor = actor_member(ctx).ok_or_else(|| OpError::forbidden(INVITE_RULE))?;
        if actor.kind != MemberKind::User {
            return Err(OpError::forbidden(
                "only internal users invite; customers cannot",
            ));
        }
        let belongs = ctx
            .state
            .groups_of(actor.id)
            .any(|g| g.membership == Membership::Static && !g.is_maintained());
        if !belongs {
            return Err(OpError::forbidden(
                "an inviter must be a member of at least one group",
            ));
        }
    }
    let ids: Vec<Id> = match named {
        Some([]) => {
            return Err(OpError::invalid(
                "groups",
                "name at least one group, or leave `groups` out for Platform Users",
            ))
        }
        Some(ids) => {
            let mut seen = BTreeSet::new();
            ids.iter().copied().filter(|id| seen.insert(*id)).collect()
        }
        None => vec![ctx
            .state
            .default_group(DefaultGroup::PlatformUsers)
            .map(|g| g.id)
            .ok_or_else(|| {
                OpError::invalid(
                    "groups",
                    "this workspace has no Platform Users group; name the groups",
                )
            })?],
    };
    let mut groups = Vec::with_capacity(ids.len());
    for id in ids {
        let group = ctx.state.group(&id).ok_or_else(|| {
            OpError::invalid("groups", format!("no group with id {id} in this workspace"))
        })?;
        if let Some(why) = not_invitable(group) {
            return Err(OpError::invalid(
                "groups",
                format!("`{}` cannot be invited into: {why}", group.name),
            ));
        }
        if !admin && !is_member(ctx, group) {
            return Err(OpError::forbidden(format!(
                "{INVITE_RULE}; you are not a member of `{}`",
                group.name
            )));
        }
        groups.push(group);
    }
    Ok(groups)
}

/// Why nobody can be invited into a group, if nobody can.
fn not_invitable(group: &Group) -> Option<&'static str> {
    if group.member_kind != MemberKind::User {
        Some("it is a customer group, and invitations bring in team members")
    } else if group.membership == Membership::Dynamic {
        Some("it is a dynamic group: its members follow its rule")
    } else if group.is_maintained() {
        Some("Roster maintains its members")
    } else if group.managed_by == ManagedBy::Scim {
        Some("its members are managed by the identity provider")
    } else {
        None
    }
}

fn is_member(ctx: &Ctx, group: &Group) -> bool {
    ctx.actor
        .member_id()
        .is_some_and(|id| ctx.state.is_effective_member(group, &id))
}

fn lifetime(requested: Option<i64>) -> Result<i64, OpError> {
    let seconds = requested.unwrap_or(DEFAULT_EXPIRES_IN);
    if (1..=MAX_EXPIRES_IN).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(OpError::invalid(
            "expires_in",
            format!("`expires_in` must be between 1 and {MAX_EXPIRES_IN} seconds (30 days)"),
        ))
    }
}

/// The distinct addresses, each with the active team member that already has it; every
/// address that cannot be invited is reported at once, with its position.
fn addresses(ctx: &Ctx, emails: &[String]) -> Result<Vec<(String, Option<Member>)>, OpError> {
    if emails.is_empty() {
        return Err(OpError::invalid(
            "emails",
            "name at least one email address",
        ));
    }
    if emails.len() > MAX_EMAILS {
        return Err(OpError::invalid(
            "emails",
            format!("at most {MAX_EMAILS} addresses per request"),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (index, raw) in emails.iter().enumerate() {
        let refuse = |message: String| ItemError {
            index,
            value: raw.clone(),
            message,
        };
        let email = match validate::email("emails", raw) {
            Ok(email) => email,
            Err(error) => {
                errors.push(refuse(error.to_string()));
                continue;
            }
        };
        if !seen.insert(email.to_lowercase()) {
            continue;
        }
        let existing = ctx.state.member_by_email(&email);
        match existing {
            Some(m) if m.kind == MemberKind::Customer => errors.push(refuse(format!(
                "`{email}` belongs to a customer; invitations bring in team members"
            ))),
            Some(m) if m.state != MemberState::Active => errors.push(refuse(format!(
                "`{email}` belongs to a deactivated member; an admin can reactivate it"
            ))),
            _ => out.push((email, existing)),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(OpError::Items {
            field: "emails".into(),
            errors,
        })
    }
}

/// Refuses when issuing `more` tokens would take the actor past its hourly allowance,
/// saying when enough of the earlier ones leave the hour.
fn rate_limit(ctx: &Ctx, policy: Policy, more: usize) -> Result<(), OpError> {
    if more == 0 {
        return Ok(());
    }
    let hour = Duration::hours(1);
    let allowed = policy.per_hour as usize;
    if more > allowed {
        // Waiting would never help: the request alone is over the allowance.
        return Err(OpError::invalid(
            "emails",
            format!("a member may issue at most {allowed} invitations per hour, and this request asks for {more}; split it"),
        ));
    }
    let issued = ctx
        .state
        .invitations()
        .issued_by_since(ctx.actor.member_id(), ctx.now - hour);
    if issued.len() + more <= allowed {
        return Ok(());
    }
    // The earliest moment when `more` slots are free: once the oldest excess issue
    // leaves the window.
    let excess = issued.len() + more - allowed;
    let retry_after = issued.get(excess - 1).map_or(hour.whole_seconds(), |at| {
        let left = (*at + hour - ctx.now).as_seconds_f64().ceil() as i64;
        left.max(1)
    });
    Err(OpError::RateLimited {
        retry_after: u64::try_from(retry_after).unwrap_or(1),
        message: format!(
            "a member may issue at most {allowed} invitations per hour; this request needs {more} and {} were issued in the last hour",
            issued.len()
        ),
    })
}

fn letter(ctx: &Ctx, groups: &[&Group]) -> Letter {
    Letter {
        workspace: ctx.state.workspace().name.clone(),
        inviter: actor_member(ctx).map(|m| m.display_name),
        groups: groups.iter().map(|g| g.name.clone()).collect(),
    }
}

/// An invitation the actor may see and manage: its own, or any as an admin.
pub fn may_manage(ctx: &Ctx, invitation: &Invitation) -> bool {
    is_admin(ctx)
        || (ctx.actor.member_id().is_some() && invitation.invited_by == ctx.actor.member_id())
}

fn managed<'a>(ctx: &Ctx<'a>, id: Id) -> Result<&'a Invitation, OpError> {
    ctx.state
        .invitations()
        .get(&id)
        .filter(|i| may_manage(ctx, i))
        .ok_or_else(|| OpError::not_found("invitation"))
}

/// Withdraws a pending invitation: its token stops working and its email, if not yet
/// sent, is never sent.
pub fn revoke(ctx: &Ctx, id: Id) -> Result<Outcome<Invitation>, OpError> {
    let before = managed(ctx, id)?;
    let state = before.state_at(ctx.now);
    if state != InvitationState::Pending {
        return Err(OpError::conflict(format!(
            "the invitation is {}; only a pending invitation can be revoked",
            state_name(state)
        )));
    }
    let mut after = before.clone();
    after.state = InvitationState::Revoked;
    after.revoked_by = ctx.actor.member_id();
    after.revoked_at = Some(ctx.now);
    Ok(changed(ctx, "invitation.revoke", before, after))
}

/// Issues a new token for a pending or expired invitation (the old one stops working)
/// and sends it again, with a fresh lifetime.
pub fn resend(
    ctx: &Ctx,
    id: Id,
    input: Resend,
    policy: Policy,
    hash: String,
) -> Result<Outcome<Created>, OpError> {
    let before = managed(ctx, id)?;
    let state = before.state_at(ctx.now);
    if !matches!(state, InvitationState::Pending | InvitationState::Expired) {
        return Err(OpError::conflict(format!(
            "the invitation is {}; only a pending or expired invitation can be sent again",
            state_name(state)
        )));
    }
    // Whoever resends must still be allowed to invite into every group of it.
    invitable_groups(ctx, Some(&before.groups))?;
    let expires_in = lifetime(input.expires_in.or(Some(before.expires_in)))?;
    rate_limit(ctx, policy, 1)?;
    let mut after = before.clone();
    after.token_hash = hash;
    after.expires_in = expires_in;
    after.expires_at = ctx.now + Duration::seconds(expires_in);
    after.issued.push(Issue {
        at: ctx.now,
        by: ctx.actor.member_id(),
    });
    after.delivery = Delivery::new(policy.by_mail);
    let groups: Vec<&Group> = after
        .groups
        .iter()
        .filter_map(|g| ctx.state.group(g))
        .collect();
    let mut letter = letter(ctx, &groups);
    letter.inviter = before
        .invited_by
        .and_then(|id| ctx.state.member(&id))
        .map(|m| m.display_name)
        .or(letter.inviter);
    let outcome = changed(ctx, "invitation.resend", before, after);
    Ok(Outcome {
        value: Created {
            results: vec![EmailResult::Invited(Box::new(outcome.value))],
            letter,
        },
        events: outcome.events,
        audit: outcome.audit,
    })
}

/// What the sender reports about one try to deliver an invitation's email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryReport {
    /// The mail server accepted the message.
    Sent,
    /// The try failed; another follows.
    Retrying(String),
    /// The try failed and was the last.
    Failed(String),
}

/// Records how delivering the email of an invitation's current token went. A report
/// about an older token (the invitation was resent meanwhile) changes nothing.
pub fn delivered(
    ctx: &Ctx,
    id: Id,
    token_hash: &str,
    attempts: u32,
    report: DeliveryReport,
) -> Result<Outcome<()>, OpError> {
    let Some(before) = ctx.state.invitations().get(&id) else {
        return Ok(Outcome::unchanged(()));
    };
    if before.token_hash != token_hash {
        return Ok(Outcome::unchanged(()));
    }
    let mut after = before.clone();
    after.delivery.attempts = attempts;
    match report {
        DeliveryReport::Sent => {
            after.delivery.state = DeliveryState::Sent;
            after.delivery.sent_at = Some(ctx.now);
        }
        DeliveryReport::Retrying(error) => {
            after.delivery.state = DeliveryState::Retrying;
            after.delivery.last_error = Some(error);
        }
        DeliveryReport::Failed(error) => {
            after.delivery.state = DeliveryState::Failed;
            after.delivery.last_error = Some(error);
        }
    }
    let outcome = changed(ctx, "invitation.delivery", before, after);
    Ok(Outcome {
        value: (),
        events: outcome.events,
        audit: outcome.audit,
    })
}

/// What accepting an invitation did.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The member the acceptance created.
    pub member: Member,
    /// The groups it joined now.
    pub joined: Vec<Id>,
    /// Invited groups it did not join, each with why (deleted, no longer static, the
    /// inviter no longer belongs to it).
    pub skipped: Vec<(Id, String)>,
    /// The API token issued to the new member; its secret is the caller's.
    pub token: TokenRecord,
}

/// Accepts the invitation whose current token has `hash`: creates the team member,
/// records it in the invited groups (source `invitation`, added by the inviter), issues
/// it an API token and spends the invitation. An invitation whose inviter is no longer an
/// active member is unusable; one none of whose groups can be joined any more is refused
/// (`409`) and stays pending. Run as [`Actor::System`]; the audit names the invitee as
/// the actor.
///
/// An invitation is only ever made for an address no member holds (an existing member
/// is added to the groups at once instead), so it is bound to no member. Accepting it
/// never yields a credential for a member that exists: if a member holds the address by
/// the time the link is used (created since, or re-addressed since, by an admin or an
/// identity provider), the acceptance is refused and the invitation stays pending. Who
/// can rewrite a member's email therefore cannot turn an invitation into that member's
/// token.
pub fn accept(
    ctx: &Ctx,
    hash: &str,
    display_name: Option<&str>,
    token_hash: String,
) -> Result<Outcome<Accepted>, OpError> {
    let invitation = ctx
        .state
        .invitations()
        .by_token_hash(hash)
        .filter(|i| i.is_open(ctx.now))
        .ok_or_else(|| OpError::NotFound(UNUSABLE.into()))?;
    // An invitation lives on its inviter's standing: one whose inviter is gone or
    // deactivated is as unusable as a revoked one.
    if let Some(inviter) = invitation.invited_by {
        if !ctx.state.is_active_member(&inviter) {
            return Err(OpError::NotFound(UNUSABLE.into()));
        }
    }
    if ctx.state.member_by_email(&invitation.email).is_some() {
        return Err(OpError::conflict(
            "the invited address now belongs to a member that did not hold it when the invitation was sent; an invitation only creates a new member, so ask the inviter to add that member to the groups instead",
        ));
    }
    let display_name = match display_name {
        Some(name) => validate::name("display_name", name)?,
        None => invitation.email.clone(),
    };
    let member = Member {
        id: new_id(),
        kind: MemberKind::User,
        user_type: Some(UserType::TeamMember),
        email: Some(invitation.email.clone()),
        display_name,
        state: MemberState::Active,
        account: None,
        email_verified: None,
        properties: BTreeMap::new(),
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    let invitee = Ctx {
        actor: Actor::Member { id: member.id },
        ..*ctx
    };
    let mut outcome = Outcome::unchanged(Accepted {
        member: member.clone(),
        joined: Vec::new(),
        skipped: Vec::new(),
        token: TokenRecord {
            id: new_id(),
            member_id: member.id,
            hash: token_hash,
            name: Some("invitation".into()),
            created_by: Some(member.id),
            created_at: ctx.now,
        },
    });
    outcome.audit.push(invitee.audit(
        "member.create",
        "member",
        Some(member.id),
        NOTHING,
        Some(&member),
    ));
    outcome.events.push(Event::MemberUpserted {
        member: member.clone(),
    });
    let mut groups: Vec<(&Group, MembershipSource, Option<Id>)> = Vec::new();
    for id in &invitation.groups {
        match joinable(ctx, invitation, id) {
            Ok(group) => groups.push((group, MembershipSource::Invitation, invitation.invited_by)),
            Err(why) => outcome.value.skipped.push((*id, why)),
        }
    }
    if groups.is_empty() {
        let reasons: Vec<&str> = outcome
            .value
            .skipped
            .iter()
            .map(|(_, why)| why.as_str())
            .collect();
        return Err(OpError::conflict(format!(
            "none of the invited groups can be joined any more ({}); ask for a new invitation",
            reasons.join("; ")
        )));
    }
    if let Some(platform) = ctx.state.default_group(DefaultGroup::PlatformUsers) {
        if !groups.iter().any(|(g, _, _)| g.id == platform.id) {
            groups.push((platform, MembershipSource::System, None));
        }
    }
    for (group, source, by) in groups {
        record_member_by(&invitee, &mut outcome, group, member.id, source, by);
        outcome.value.joined.push(group.id);
    }
    let token = outcome.value.token.clone();
    let shown = serde_json::json!({"id": token.id, "member_id": member.id, "name": "invitation"});
    outcome.audit.push(invitee.audit(
        "token.create",
        "token",
        Some(token.id),
        NOTHING,
        Some(&shown),
    ));
    outcome.events.push(Event::TokenCreated { token });
    let mut after = invitation.clone();
    after.state = InvitationState::Accepted;
    after.accepted_by = Some(member.id);
    after.accepted_at = Some(ctx.now);
    let spent = changed(&invitee, "invitation.accept", invitation, after);
    outcome.events.extend(spent.events);
    outcome.audit.extend(spent.audit);
    Ok(outcome)
}

/// An invited group the invitee can still join: it exists, can be invited into, and
/// its inviter may still invite into it.
fn joinable<'a>(ctx: &Ctx<'a>, invitation: &Invitation, id: &Id) -> Result<&'a Group, String> {
    let group = ctx
        .state
        .group(id)
        .ok_or_else(|| "the group was deleted".to_owned())?;
    if let Some(why) = not_invitable(group) {
        return Err(format!(
            "`{}` cannot be invited into any more: {why}",
            group.name
        ));
    }
    if let Some(inviter) = invitation.invited_by {
        let allowed =
            ctx.state.is_admin(&inviter) || ctx.state.is_effective_member(group, &inviter);
        if !allowed {
            return Err(format!("the inviter no longer belongs to `{}`", group.name));
        }
    }
    Ok(group)
}

/// A changed invitation: its version and time moved on, with its event and audit entry.
fn changed(
    ctx: &Ctx,
    action: &str,
    before: &Invitation,
    mut after: Invitation,
) -> Outcome<Invitation> {
    after.version = before.version + 1;
    after.updated_at = ctx.now;
    let audit = ctx.audit(
        action,
        "invitation",
        Some(after.id),
        Some(&InvitationView::of(before, ctx.now)),
        Some(&InvitationView::of(&after, ctx.now)),
    );
    Outcome {
        events: vec![Event::InvitationUpserted {
            invitation: after.clone(),
        }],
        audit: vec![audit],
        value: after,
    }
}

fn state_name(state: InvitationState) -> &'static str {
    match state {
        InvitationState::Pending => "pending",
        InvitationState::Accepted => "accepted",
        InvitationState::Revoked => "revoked",
        InvitationState::Expired => "expired",
    }
}

//! Invitation rules that depend on the clock, decided without a database: the hourly
//! window of the rate limit and when it frees up, expiry at the second, and a spent
//! token.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use roster_engine::WorkspaceState;
use roster_model::{Actor, Id, InvitationState, Timestamp};
use roster_ops::invitations::{self, EmailResult, NewInvitations, Policy, UNUSABLE};
use roster_ops::{Ctx, OpError, Outcome};
use time::Duration;

struct World {
    state: WorkspaceState,
    revision: i64,
    admin: Id,
    minted: u32,
}

impl World {
    fn new() -> World {
        let outcome = roster_ops::new_workspace(
            "W",
            "admin@w.test",
            "h".into(),
            Actor::Cli,
            roster_model::now(),
        )
        .unwrap();
        let admin = outcome.value.admin.id;
        let mut state = WorkspaceState::empty(outcome.value.workspace.clone(), 0);
        state.apply(1, &outcome.events);
        World {
            state,
            revision: 1,
            admin,
            minted: 0,
        }
    }

    fn run<T>(
        &mut self,
        now: Timestamp,
        actor: Actor,
        op: impl FnOnce(&Ctx) -> Result<Outcome<T>, OpError>,
    ) -> Result<T, OpError> {
        let outcome = op(&Ctx {
            state: &self.state,
            actor,
            now,
        })?;
        self.revision += 1;
        self.state.apply(self.revision, &outcome.events);
        Ok(outcome.value)
    }

    /// Invites `emails` as the admin at `now`, with a lifetime, under a limit.
    fn invite(
        &mut self,
        now: Timestamp,
        emails: &[&str],
        expires_in: Option<i64>,
        per_hour: u32,
    ) -> Result<Vec<EmailResult>, OpError> {
        let policy = Policy {
            by_mail: false,
            per_hour,
        };
        let input = NewInvitations {
            emails: emails.iter().map(|e| (*e).to_owned()).collect(),
            groups: None,
            expires_in,
        };
        let admin = Actor::Member { id: self.admin };
        let minted = &mut self.minted;
        let outcome = invitations::create(
            &Ctx {
                state: &self.state,
                actor: admin,
                now,
            },
            input,
            policy,
            &mut || {
                *minted += 1;
                format!("hash-{minted}")
            },
        )?;
        self.revision += 1;
        self.state.apply(self.revision, &outcome.events);
        Ok(outcome.value.results)
    }
}

fn invited_hash(result: &EmailResult) -> String {
    match result {
        EmailResult::Invited(invitation) => invitation.token_hash.clone(),
        EmailResult::Added { .. } => panic!("expected an invitation"),
    }
}

#[test]
fn the_rate_limit_frees_up_as_the_oldest_issue_leaves_the_hour() {
    let mut world = World::new();
    let t0 = roster_model::now();
    world.invite(t0, &["a@x.test"], None, 3).unwrap();
    world
        .invite(t0 + Duration::minutes(10), &["b@x.test"], None, 3)
        .unwrap();
    world
        .invite(t0 + Duration::minutes(20), &["c@x.test"], None, 3)
        .unwrap();

    match world.invite(t0 + Duration::minutes(30), &["d@x.test"], None, 3) {
        Err(OpError::RateLimited { retry_after, .. }) => assert_eq!(retry_after, 30 * 60),
        other => panic!("expected a rate limit, got {other:?}"),
    }
    // Two more need the two oldest gone: 40 minutes.
    match world.invite(
        t0 + Duration::minutes(30),
        &["d@x.test", "e@x.test"],
        None,
        3,
    ) {
        Err(OpError::RateLimited { retry_after, .. }) => assert_eq!(retry_after, 40 * 60),
        other => panic!("expected a rate limit, got {other:?}"),
    }
    // More than the whole allowance can never fit in one request: invalid, not early.
    match world.invite(
        t0 + Duration::minutes(30),
        &["1@x.test", "2@x.test", "3@x.test", "4@x.test"],
        None,
        3,
    ) {
        Err(OpError::Invalid { field, .. }) => assert_eq!(field.as_deref(), Some("emails")),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Once the first issue is an hour old, one more fits.
    world
        .invite(t0 + Duration::minutes(60), &["d@x.test"], None, 3)
        .unwrap();
}

#[test]
fn an_invitation_expires_at_its_second_and_a_spent_token_finds_nothing() {
    let mut world = World::new();
    let t0 = roster_model::now();
    let results = world.invite(t0, &["late@x.test"], Some(60), 100).unwrap();
    let hash = invited_hash(&results[0]);
    let id = match &results[0] {
        EmailResult::Invited(invitation) => invitation.id,
        EmailResult::Added { .. } => unreachable!(),
    };
    let invitation = world.state.invitations().get(&id).unwrap().clone();
    assert_eq!(
        invitation.state_at(t0 + Duration::seconds(59)),
        InvitationState::Pending
    );
    assert_eq!(
        invitation.state_at(t0 + Duration::seconds(60)),
        InvitationState::Expired
    );

    let refused = world.run(t0 + Duration::seconds(60), Actor::System, |ctx| {
        invitations::accept(ctx, &hash, None, "token-a".into())
    });
    assert_eq!(refused.unwrap_err(), OpError::NotFound(UNUSABLE.into()));

    let accepted = world
        .run(t0 + Duration::seconds(59), Actor::System, |ctx| {
            invitations::accept(ctx, &hash, Some("Late"), "token-b".into())
        })
        .unwrap();
    assert_eq!(accepted.token.member_id, accepted.member.id);
    assert_eq!(accepted.member.display_name, "Late");
    let again = world.run(t0 + Duration::seconds(59), Actor::System, |ctx| {
        invitations::accept(ctx, &hash, None, "token-c".into())
    });
    assert_eq!(again.unwrap_err(), OpError::NotFound(UNUSABLE.into()));
    assert_eq!(
        world.state.invitations().get(&id).unwrap().state,
        InvitationState::Accepted
    );
}

#[test]
fn a_delivery_report_about_an_older_token_changes_nothing() {
    let mut world = World::new();
    let t0 = roster_model::now();
    let results = world.invite(t0, &["mail@x.test"], None, 100).unwrap();
    let old_hash = invited_hash(&results[0]);
    let id = world
        .state
        .invitations()
        .by_token_hash(&old_hash)
        .unwrap()
        .id;
    let policy = Policy {
        by_mail: true,
        per_hour: 100,
    };
    let admin = Actor::Member { id: world.admin };
    world
        .run(t0, admin, |ctx| {
            invitations::resend(ctx, id, Default::default(), policy, "new-hash".into())
        })
        .unwrap();
    let version = world.state.invitations().get(&id).unwrap().version;
    world
        .run(t0, Actor::System, |ctx| {
            invitations::delivered(ctx, id, &old_hash, 1, invitations::DeliveryReport::Sent)
        })
        .unwrap();
    let invitation = world.state.invitations().get(&id).unwrap();
    assert_eq!(invitation.version, version, "the stale report was ignored");
    assert_eq!(
        invitation.delivery.state,
        roster_model::DeliveryState::Queued
    );
    assert!(world.state.invitations().by_token_hash(&old_hash).is_none());
}

#[test]
fn an_address_that_gained_a_member_since_the_invitation_yields_no_credential() {
    let mut world = World::new();
    let t0 = roster_model::now();
    let admin = Actor::Member { id: world.admin };
    for by_mail in [false, true] {
        let email = format!("later-{by_mail}@x.test");
        let policy = Policy {
            by_mail,
            per_hour: 100,
        };
        let input = NewInvitations {
            emails: vec![email.clone()],
            groups: None,
            expires_in: None,
        };
        let hash = format!("hash-{email}");
        let results = world
            .run(t0, admin, |ctx| {
                invitations::create(ctx, input, policy, &mut || hash.clone())
            })
            .unwrap()
            .results;
        assert!(matches!(results[0], EmailResult::Invited(_)));
        // The address gets an account before the invitation is accepted.
        let member = roster_ops::members::NewMember {
            kind: roster_model::MemberKind::User,
            user_type: None,
            email: Some(email.clone()),
            display_name: None,
            account: None,
            email_verified: None,
            properties: Default::default(),
        };
        world
            .run(t0, Actor::Cli, |ctx| {
                roster_ops::members::create(ctx, member)
            })
            .unwrap();
        let refused = world.run(t0, Actor::System, |ctx| {
            invitations::accept(ctx, &hash, None, format!("api-{email}"))
        });
        assert!(
            matches!(refused, Err(OpError::Conflict(_))),
            "mailed: {by_mail}: {refused:?}"
        );
        let invitation = world.state.invitations().by_token_hash(&hash).unwrap();
        assert_eq!(
            invitation.state,
            InvitationState::Pending,
            "nothing was spent"
        );
        assert!(
            world.state.token_by_hash(&format!("api-{email}")).is_none(),
            "no token was issued"
        );
    }
}

//! A new workspace: its eight default groups and its first admin (SPEC §1).

use roster_engine::WorkspaceState;
use roster_model::{
    new_id, Actor, DefaultGroup, Event, Group, ManagedBy, Member, MemberKind, MemberState,
    Membership, MembershipSource, Timestamp, TokenRecord, UserType, Workspace,
};

use crate::{validate, Ctx, OpError, Outcome, NOTHING};

/// What a new workspace starts with.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    /// The workspace.
    pub workspace: Workspace,
    /// Its first admin.
    pub admin: Member,
    /// The admin's first token (hashed).
    pub token: TokenRecord,
}

/// Builds a workspace named `name` whose first admin has `admin_email`, and a token for
/// that admin whose secret hashes to `token_hash`. Everything is committed as revision 1.
pub fn new_workspace(
    name: &str,
    admin_email: &str,
    token_hash: String,
    actor: Actor,
    now: Timestamp,
) -> Result<Outcome<Bootstrap>, OpError> {
    let workspace = Workspace {
        id: new_id(),
        name: validate::name("name", name)?,
        created_at: now,
    };
    let email = validate::email("admin_email", admin_email)?;
    let admin = Member {
        id: new_id(),
        kind: MemberKind::User,
        user_type: Some(UserType::TeamMember),
        display_name: email.split('@').next().unwrap_or(&email).to_owned(),
        email: Some(email),
        state: MemberState::Active,
        account: None,
        email_verified: None,
        properties: Default::default(),
        created_at: now,
        updated_at: now,
    };
    let token = TokenRecord {
        id: new_id(),
        member_id: admin.id,
        hash: token_hash,
        name: Some("bootstrap".into()),
        created_by: None,
        created_at: now,
    };
    let mut state = WorkspaceState::empty(workspace.clone(), 0);
    let ctx = Ctx {
        state: &state,
        actor,
        now,
    };
    let mut events = vec![Event::WorkspaceCreated {
        workspace: workspace.clone(),
    }];
    let mut audit = vec![ctx.audit(
        "workspace.create",
        "workspace",
        Some(workspace.id),
        NOTHING,
        Some(&workspace),
    )];
    let mut groups = Vec::new();
    for key in DefaultGroup::ALL {
        let group = Group {
            id: new_id(),
            name: key.name().to_owned(),
            description: key.description().to_owned(),
            member_kind: key.member_kind(),
            membership: if key.rule().is_some() {
                Membership::Dynamic
            } else {
                Membership::Static
            },
            rule: key.rule().map(str::to_owned),
            owner: None,
            default_group: Some(key),
            managed_by: ManagedBy::Roster,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        audit.push(ctx.audit(
            "group.create",
            "group",
            Some(group.id),
            NOTHING,
            Some(&group),
        ));
        events.push(Event::GroupUpserted {
            group: group.clone(),
        });
        groups.push(group);
    }
    audit.push(ctx.audit(
        "member.create",
        "member",
        Some(admin.id),
        NOTHING,
        Some(&admin),
    ));
    events.push(Event::MemberUpserted {
        member: admin.clone(),
    });
    state.apply(1, &events);
    let ctx = Ctx {
        state: &state,
        actor,
        now,
    };
    let mut outcome = Outcome {
        value: admin.clone(),
        events,
        audit,
    };
    crate::members::join_default(
        &ctx,
        &mut outcome,
        DefaultGroup::Admins,
        admin.id,
        MembershipSource::System,
    );
    crate::members::join_default(
        &ctx,
        &mut outcome,
        DefaultGroup::PlatformUsers,
        admin.id,
        MembershipSource::System,
    );
    outcome.audit.push(ctx.audit(
        "token.create",
        "token",
        Some(token.id),
        NOTHING,
        Some(&serde_json::json!({"id": token.id, "member_id": admin.id, "name": token.name})),
    ));
    outcome.events.push(Event::TokenCreated {
        token: token.clone(),
    });
    for role in crate::roles::default_roles(now) {
        outcome
            .audit
            .push(ctx.audit("role.create", "role", Some(role.id), NOTHING, Some(&role)));
        outcome.events.push(Event::RoleUpserted { role });
    }
    Ok(Outcome {
        value: Bootstrap {
            workspace,
            admin,
            token,
        },
        events: outcome.events,
        audit: outcome.audit,
    })
}

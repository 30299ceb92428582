//! `/api/v1/invitations`: invite by email, list, revoke, resend, and accept (the one
//! write that needs no bearer token: the invitation's own token is the credential).

use std::collections::HashMap;
use std::sync::Mutex;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use roster_model::{Actor, Id, InvitationState, Member};
use roster_ops::invitations::{
    self, Accept, Created, EmailResult, InvitationView, NewInvitations, Resend, UNUSABLE,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{path_id, ApiPath, ApiQuery, Auth, JsonBody, OptionalJsonBody};
use super::{written, ApiError, AppState, Page};
use crate::mail::{compose, InviteSettings};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/invitations", get(list).post(create))
        .route("/invitations/accept", post(accept))
        .route("/invitations/{id}", get(show))
        .route("/invitations/{id}/revoke", post(revoke))
        .route("/invitations/{id}/resend", post(resend))
}

/// The page an accept link opens, outside `/api/v1`.
pub fn page_routes() -> Router<AppState> {
    Router::new()
        .route("/invitations/accept", get(accept_page))
        .route("/invitations/accept.js", get(accept_script))
        .route("/invitations/accept.css", get(accept_style))
}

/// What became of one address of `POST /invitations`.
#[derive(Serialize, ToSchema)]
pub struct EmailOutcome {
    /// The address as given.
    email: String,
    /// `invited`: an invitation was created; `added`: the address belongs to an active
    /// team member, who was added to the groups directly.
    outcome: &'static str,
    /// The invitation, when one was created.
    #[serde(skip_serializing_if = "Option::is_none")]
    invitation: Option<InvitationView>,
    /// The accept link, when no mail server is configured (it is also logged).
    #[serde(skip_serializing_if = "Option::is_none")]
    link: Option<String>,
    /// The existing member, when it was added directly.
    #[serde(skip_serializing_if = "Option::is_none")]
    member_id: Option<Uuid>,
    /// The groups the existing member joined now (those it was already in are left out).
    #[serde(skip_serializing_if = "Option::is_none")]
    groups_added: Option<Vec<Uuid>>,
}

/// The answer of `POST /invitations` and `POST /invitations/{id}/resend`.
#[derive(Serialize, ToSchema)]
pub struct InvitationsCreated {
    /// One entry per distinct address, in request order.
    results: Vec<EmailOutcome>,
}

/// `?state=` of the list, besides paging.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InvitationQuery {
    /// Only invitations in this state (`pending`, `accepted`, `revoked`, `expired`).
    pub state: Option<InvitationState>,
    /// At most this many items (1 to 1000; 100 by default).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Mints secrets for an operation: keeps each secret by the hash the operation stores.
/// Behind a lock because the operation mints while the outbox and the answer read.
#[derive(Default)]
struct Secrets(Mutex<HashMap<String, String>>);

impl Secrets {
    fn mint(&self) -> String {
        let (secret, hash) = crate::secret::new_token();
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(hash.clone(), secret);
        hash
    }

    fn secret(&self, hash: &str) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(hash)
            .cloned()
    }
}

/// Runs an operation that issues invitation tokens as one write, queues their emails
/// (when mail is sent) in the same transaction, and answers with one result per
/// address, links included when no mail server is configured.
async fn issue(
    app: &AppState,
    auth: &Auth,
    status: StatusCode,
    operation: impl FnOnce(
            &roster_ops::Ctx,
            roster_ops::invitations::Policy,
            &mut dyn FnMut() -> String,
        ) -> Result<roster_ops::Outcome<Created>, roster_ops::OpError>
        + Send,
) -> Result<Response, ApiError> {
    let settings = app.invites.clone();
    let secrets = Secrets::default();
    let policy = settings.policy();
    let (created, revision) = app
        .roster
        .write_with_outbox(
            auth.workspace,
            auth.actor,
            |ctx| operation(ctx, policy, &mut || secrets.mint()),
            |created| messages(&settings, auth.workspace, &secrets, created),
        )
        .await?;
    let results = outcomes(&settings, &secrets, created);
    Ok(written(status, InvitationsCreated { results }, revision))
}

/// The outbox messages of created invitations (when mail is sent).
fn messages(
    settings: &InviteSettings,
    workspace: Id,
    secrets: &Secrets,
    created: &Created,
) -> Vec<roster_model::OutboxMessage> {
    if !settings.by_mail {
        return Vec::new();
    }
    created
        .results
        .iter()
        .filter_map(|r| match r {
            EmailResult::Invited(invitation) => {
                secrets.secret(&invitation.token_hash).map(|secret| {
                    compose(
                        workspace,
                        invitation,
                        &created.letter,
                        &settings.link(&secret),
                    )
                })
            }
            EmailResult::Added { .. } => None,
        })
        .collect()
}

fn outcomes(settings: &InviteSettings, secrets: &Secrets, created: Created) -> Vec<EmailOutcome> {
    let now = roster_model::now();
    created
        .results
        .into_iter()
        .map(|result| match result {
            EmailResult::Invited(invitation) => {
                let link = (!settings.by_mail)
                    .then(|| secrets.secret(&invitation.token_hash))
                    .flatten()
                    .map(|secret| settings.link(&secret));
                if link.is_some() {
                    // The link is a credential: it goes to the inviter in the answer, never
                    // to the log.
                    tracing::info!(invitation = %invitation.id,
                        "invitation link returned to the inviter (no SMTP server configured)");
                }
                EmailOutcome {
                    email: invitation.email.clone(),
                    outcome: "invited",
                    invitation: Some(InvitationView::of(&invitation, now)),
                    link,
                    member_id: None,
                    groups_added: None,
                }
            }
            EmailResult::Added {
                email,
                member_id,
                added,
            } => EmailOutcome {
                email,
                outcome: "added",
                invitation: None,
                link: None,
                member_id: Some(member_id),
                groups_added: Some(added),
            },
        })
        .collect()
}

/// Invites each address into static user groups (Platform Users when none are named).
#[utoipa::path(post, operation_id = "invitations_create", path = "/api/v1/invitations", tag = "invitations", request_body = NewInvitations,
    responses((status = 201, body = InvitationsCreated), (status = 429, body = super::Problem, content_type = "application/problem+json"),
        (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(app): State<AppState>,
    auth: Auth,
    JsonBody(input): JsonBody<NewInvitations>,
) -> Result<Response, ApiError> {
    issue(&app, &auth, StatusCode::CREATED, |ctx, policy, mint| {
        invitations::create(ctx, input, policy, mint)
    })
    .await
}

/// Lists invitations: your own, or every one as an admin; newest last.
#[utoipa::path(get, operation_id = "invitations_list", path = "/api/v1/invitations", tag = "invitations", params(InvitationQuery),
    responses((status = 200, body = Page<InvitationView>), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn list(
    auth: Auth,
    ApiQuery(query): ApiQuery<InvitationQuery>,
) -> Result<Json<Page<InvitationView>>, ApiError> {
    let page = super::extract::PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    };
    let (limit, after) = (page.limit()?, page.cursor_id()?);
    let state = auth.handle.read();
    let ctx = auth.ctx(&state);
    let items = state
        .invitations()
        .after(after)
        .filter(|i| invitations::may_manage(&ctx, i))
        .map(|i| InvitationView::of(i, ctx.now))
        .filter(|view| query.state.is_none_or(|s| view.state == s));
    Ok(Json(Page::of(items, limit, |v| v.id)))
}

/// One invitation: your own, or any as an admin.
#[utoipa::path(get, operation_id = "invitations_show", path = "/api/v1/invitations/{id}", tag = "invitations", params(("id" = Uuid, Path)),
    responses((status = 200, body = InvitationView), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn show(
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<InvitationView>, ApiError> {
    let id = path_id(&id, "invitation")?;
    let state = auth.handle.read();
    let ctx = auth.ctx(&state);
    state
        .invitations()
        .get(&id)
        .filter(|i| invitations::may_manage(&ctx, i))
        .map(|i| Json(InvitationView::of(i, ctx.now)))
        .ok_or_else(|| ApiError::not_found("invitation not found"))
}

/// Revokes a pending invitation: its link stops working, and an unsent email is never sent.
#[utoipa::path(post, operation_id = "invitations_revoke", path = "/api/v1/invitations/{id}/revoke", tag = "invitations", params(("id" = Uuid, Path)),
    responses((status = 200, body = InvitationView), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn revoke(
    State(app): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "invitation")?;
    let (invitation, revision) = app
        .roster
        .write(auth.workspace, auth.actor, |ctx| {
            invitations::revoke(ctx, id)
        })
        .await?;
    Ok(written(
        StatusCode::OK,
        InvitationView::of(&invitation, roster_model::now()),
        revision,
    ))
}

/// Sends a pending or expired invitation again with a new token (the old link stops
/// working) and a fresh lifetime.
#[utoipa::path(post, operation_id = "invitations_resend", path = "/api/v1/invitations/{id}/resend", tag = "invitations", params(("id" = Uuid, Path)), request_body = Resend,
    responses((status = 200, body = InvitationsCreated), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn resend(
    State(app): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    OptionalJsonBody(input): OptionalJsonBody<Resend>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "invitation")?;
    issue(&app, &auth, StatusCode::OK, |ctx, policy, mint| {
        invitations::resend(ctx, id, input, policy, mint())
    })
    .await
}

/// The answer to an accepted invitation.
#[derive(Serialize, ToSchema)]
pub struct AcceptedView {
    /// The member the acceptance created.
    member: Member,
    /// An API token for the new member: shown once, for `Authorization: Bearer …`.
    token: String,
    /// The token's id, to revoke it.
    token_id: Uuid,
    /// The groups the member joined.
    joined: Vec<Uuid>,
    /// Invited groups it did not join, each with why.
    skipped: Vec<Skipped>,
}

/// An invited group the invitee did not join.
#[derive(Serialize, ToSchema)]
pub struct Skipped {
    /// The group.
    group_id: Uuid,
    /// Why.
    reason: String,
}

/// Accepts an invitation with the token from its link; needs no bearer token. Answers
/// `201` with the new member and an API token; `409` when a member holds the invited
/// address by now (an invitation only ever creates a member). A token that is unknown,
/// used, revoked or expired is one indistinct `404`.
#[utoipa::path(post, operation_id = "invitations_accept", path = "/api/v1/invitations/accept", tag = "invitations", request_body = Accept, security(()),
    responses((status = 201, body = AcceptedView), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn accept(
    State(app): State<AppState>,
    JsonBody(input): JsonBody<Accept>,
) -> Result<Response, ApiError> {
    let hash = crate::secret::hash(input.token.trim());
    let workspace = app
        .roster
        .store()
        .workspace_of_invitation(&hash)
        .await
        .map_err(|e| ApiError::from(crate::RuntimeError::from(e)))?
        .ok_or_else(|| ApiError::not_found(UNUSABLE))?;
    // A token that cannot be accepted is answered from the engine, without taking the
    // workspace's write lock: replaying an old link holds up no one's writes.
    let handle = app.roster.workspace(workspace).await?;
    let open = |handle: &crate::runtime::WorkspaceHandle| {
        handle
            .read()
            .invitations()
            .by_token_hash(&hash)
            .is_some_and(|i| i.is_open(roster_model::now()))
    };
    if !open(&handle) {
        // Made or resent by another server a moment ago: catch up before deciding.
        app.roster.catch_up(&handle, workspace).await?;
        if !open(&handle) {
            return Err(ApiError::not_found(UNUSABLE));
        }
    }
    let (secret, token_hash) = crate::secret::new_token();
    let (accepted, revision) = app
        .roster
        .write(workspace, Actor::System, |ctx| {
            invitations::accept(ctx, &hash, input.display_name.as_deref(), token_hash)
        })
        .await?;
    Ok(written(
        StatusCode::CREATED,
        AcceptedView {
            member: accepted.member,
            token_id: accepted.token.id,
            token: secret,
            joined: accepted.joined,
            skipped: accepted
                .skipped
                .into_iter()
                .map(|(group_id, reason)| Skipped { group_id, reason })
                .collect(),
        },
        revision,
    ))
}

/// The page an accept link opens: asks for a name, posts the token, shows the API token.
/// Its script and style are files of their own, so the page's policy allows no inline
/// code at all.
async fn accept_page() -> Html<&'static str> {
    Html(include_str!("pages/accept.html"))
}

/// The accept page's script.
async fn accept_script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("pages/accept.js"),
    )
}

/// The accept page's style.
async fn accept_style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("pages/accept.css"),
    )
}

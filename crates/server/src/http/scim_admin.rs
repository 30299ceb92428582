//! `/api/v1/scim/…`: what admins manage about SCIM provisioning: the identity
//! provider's tokens and which properties SCIM attributes fill.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get};
use axum::{Json, Router};
use roster_model::ScimToken;
use roster_ops::access::require_admin;
use roster_ops::scim::{links, mapping, tokens};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{path_id, ApiPath, Auth, JsonBody, OptionalJsonBody};
use super::{written, ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/scim/tokens", get(list).post(create))
        .route("/scim/tokens/{id}", delete(revoke))
        .route("/scim/mapping", get(show_mapping).put(set_mapping))
        .route("/scim/links", get(list_links).post(link))
        .route("/scim/links/{member_id}", delete(unlink))
}

/// The body of `POST /scim/tokens`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewScimToken {
    /// A label, for instance `Okta`.
    #[serde(default)]
    pub name: Option<String>,
}

/// A SCIM token as listed: never its secret.
#[derive(Serialize, ToSchema)]
pub struct ScimTokenView {
    /// The token's id, for revoking it; audit entries of its writes name it.
    id: Uuid,
    /// Its label.
    name: Option<String>,
    /// The admin who created it (`null`: the command line).
    created_by: Option<Uuid>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl From<&ScimToken> for ScimTokenView {
    fn from(t: &ScimToken) -> Self {
        ScimTokenView {
            id: t.id,
            name: t.name.clone(),
            created_by: t.created_by,
            created_at: t.created_at,
        }
    }
}

/// A new SCIM token: the only time its secret is shown.
#[derive(Serialize, ToSchema)]
pub struct CreatedScimToken {
    #[serde(flatten)]
    view: ScimTokenView,
    /// The secret, for the identity provider's `Authorization: Bearer …`.
    token: String,
}

/// The mapping in force.
#[derive(Serialize, ToSchema)]
pub struct MappingView {
    /// Every SCIM attribute that can fill a property, with the property it fills.
    entries: Vec<mapping::MappingEntry>,
}

const RULE: &str = "only admins manage SCIM provisioning";

/// Lists the live SCIM tokens (admins).
#[utoipa::path(get, operation_id = "scim_tokens_list", path = "/api/v1/scim/tokens", tag = "scim",
    responses((status = 200, body = Vec<ScimTokenView>), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn list(auth: Auth) -> Result<Json<Vec<ScimTokenView>>, ApiError> {
    let state = auth.handle.read();
    require_admin(&auth.ctx(&state), RULE)?;
    Ok(Json(
        state.scim().tokens().map(ScimTokenView::from).collect(),
    ))
}

/// Creates a SCIM token (admins).
#[utoipa::path(post, operation_id = "scim_tokens_create", path = "/api/v1/scim/tokens", tag = "scim", request_body = NewScimToken,
    responses((status = 201, body = CreatedScimToken), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(app): State<AppState>,
    auth: Auth,
    OptionalJsonBody(input): OptionalJsonBody<NewScimToken>,
) -> Result<Response, ApiError> {
    let (secret, hash) = crate::secret::new_token();
    let (record, revision) = app
        .roster
        .write(auth.workspace, auth.actor, |ctx| {
            tokens::create(ctx, input.name, hash)
        })
        .await?;
    Ok(written(
        StatusCode::CREATED,
        CreatedScimToken {
            view: (&record).into(),
            token: secret,
        },
        revision,
    ))
}

/// Revokes a SCIM token (admins): the identity provider holding it is refused at once.
#[utoipa::path(delete, operation_id = "scim_tokens_revoke", path = "/api/v1/scim/tokens/{id}", tag = "scim", params(("id" = Uuid, Path)),
    responses((status = 200, description = "revoked; the body carries the revision"), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn revoke(
    State(app): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "SCIM token")?;
    let ((), revision) = app
        .roster
        .write(auth.workspace, auth.actor, |ctx| tokens::revoke(ctx, id))
        .await?;
    Ok(written(
        StatusCode::OK,
        serde_json::json!({"revoked": true}),
        revision,
    ))
}

/// The SCIM attribute → property mapping in force (internal users).
#[utoipa::path(get, operation_id = "scim_mapping_show", path = "/api/v1/scim/mapping", tag = "scim",
    responses((status = 200, body = MappingView), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn show_mapping(auth: Auth) -> Result<Json<MappingView>, ApiError> {
    let state = auth.handle.read();
    roster_ops::access::require_reader(&auth.ctx(&state))?;
    Ok(Json(MappingView {
        entries: mapping::effective(&state),
    }))
}

/// Replaces the mapping's overrides (admins); attributes left out return to their default.
#[utoipa::path(put, operation_id = "scim_mapping_set", path = "/api/v1/scim/mapping", tag = "scim", request_body = mapping::MappingInput,
    responses((status = 200, body = MappingView), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn set_mapping(
    State(app): State<AppState>,
    auth: Auth,
    JsonBody(input): JsonBody<mapping::MappingInput>,
) -> Result<Response, ApiError> {
    let (_, revision) = app
        .roster
        .write(auth.workspace, auth.actor, |ctx| mapping::set(ctx, input))
        .await?;
    let entries = mapping::effective(&auth.handle.read());
    Ok(written(StatusCode::OK, MappingView { entries }, revision))
}

/// The members an admin linked to the identity provider (admins).
#[utoipa::path(get, operation_id = "scim_links_list", path = "/api/v1/scim/links", tag = "scim",
    responses((status = 200, body = Vec<links::LinkView>), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn list_links(auth: Auth) -> Result<Json<Vec<links::LinkView>>, ApiError> {
    let state = auth.handle.read();
    Ok(Json(links::list(&auth.ctx(&state))?))
}

/// Links an existing team member to the identity provider (admins): SCIM never claims a
/// member by its email, nor writes to an admin, without this explicit, audited step.
#[utoipa::path(post, operation_id = "scim_links_create", path = "/api/v1/scim/links", tag = "scim", request_body = links::NewLink,
    responses((status = 201, body = links::LinkView), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn link(
    State(app): State<AppState>,
    auth: Auth,
    JsonBody(input): JsonBody<links::NewLink>,
) -> Result<Response, ApiError> {
    let (view, revision) = app
        .roster
        .write(auth.workspace, auth.actor, |ctx| links::link(ctx, input))
        .await?;
    Ok(written(StatusCode::CREATED, view, revision))
}

/// Removes a member's link (admins): an admin is refused to SCIM writes again.
#[utoipa::path(delete, operation_id = "scim_links_remove", path = "/api/v1/scim/links/{member_id}", tag = "scim", params(("member_id" = Uuid, Path)),
    responses((status = 200, description = "unlinked; the body carries the revision"), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn unlink(
    State(app): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "member")?;
    let ((), revision) = app
        .roster
        .write(auth.workspace, auth.actor, |ctx| links::unlink(ctx, id))
        .await?;
    Ok(written(
        StatusCode::OK,
        serde_json::json!({"unlinked": true}),
        revision,
    ))
}

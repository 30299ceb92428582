//! `/api/v1/tokens`: a member's own tokens, and admins' tokens for agents.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get};
use axum::{Json, Router};
use roster_model::TokenRecord;
use roster_ops::tokens;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{path_id, ApiPath, ApiQuery, Auth, OptionalJsonBody, PageQuery};
use super::{written, ApiError, AppState, Page};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tokens", get(list).post(create))
        .route("/tokens/{id}", delete(revoke))
}

/// The body of `POST /tokens`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// The member the token acts as: yourself when absent; admins may name an agent.
    #[serde(default)]
    pub member_id: Option<Uuid>,
    /// A label to recognise the token by.
    #[serde(default)]
    pub name: Option<String>,
}

/// A token as listed: never its secret.
#[derive(Serialize, ToSchema)]
pub struct TokenView {
    /// The token's id, for revoking it.
    id: Uuid,
    /// The member it acts as.
    member_id: Uuid,
    /// Its label.
    name: Option<String>,
    /// Who created it (`null`: the command line).
    created_by: Option<Uuid>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl From<&TokenRecord> for TokenView {
    fn from(t: &TokenRecord) -> Self {
        TokenView {
            id: t.id,
            member_id: t.member_id,
            name: t.name.clone(),
            created_by: t.created_by,
            created_at: t.created_at,
        }
    }
}

/// A new token: the only time its secret is shown.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    view: TokenView,
    /// The secret, for `Authorization: Bearer …`. Not retrievable later.
    token: String,
}

/// Lists the tokens the actor may manage: its own, or all for admins.
#[utoipa::path(get, operation_id = "tokens_list", path = "/api/v1/tokens", tag = "tokens", params(PageQuery),
    responses((status = 200, body = Page<TokenView>), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn list(
    auth: Auth,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<Page<TokenView>>, ApiError> {
    let (limit, after) = (page.limit()?, page.cursor_id()?);
    let state = auth.handle.read();
    let ctx = auth.ctx(&state);
    let items = state
        .tokens()
        .into_iter()
        .filter(|t| tokens::may_manage(&ctx, t) && after.is_none_or(|a| t.id > a))
        .map(TokenView::from);
    Ok(Json(Page::of(items, limit, |t| t.id)))
}

/// Creates a token for yourself, or (admins) for an agent.
#[utoipa::path(post, operation_id = "tokens_create", path = "/api/v1/tokens", tag = "tokens", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(app): State<AppState>,
    auth: Auth,
    OptionalJsonBody(input): OptionalJsonBody<NewToken>,
) -> Result<Response, ApiError> {
    let (secret, hash) = crate::secret::new_token();
    let (record, revision) = app
        .roster
        .write(auth.workspace, auth.actor, |ctx| {
            tokens::create(ctx, input.member_id, input.name, hash)
        })
        .await?;
    Ok(written(
        StatusCode::CREATED,
        CreatedToken {
            view: (&record).into(),
            token: secret,
        },
        revision,
    ))
}

/// Revokes a token: your own, or any as an admin.
#[utoipa::path(delete, operation_id = "tokens_revoke", path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = Uuid, Path)),
    responses((status = 200, description = "revoked; the body carries the revision"), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn revoke(
    State(app): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "token")?;
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

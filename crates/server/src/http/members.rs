//! `/api/v1/members`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use roster_model::{Member, MemberKind};
use roster_ops::access;
use roster_ops::members::{self, MemberPatch, NewMember};
use serde::Deserialize;

use super::extract::{path_id, ApiPath, ApiQuery, Auth, JsonBody, PageQuery};
use super::{written, ApiError, AppState, Page};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/members", get(list).post(create))
        .route("/members/{id}", get(show).patch(update))
}

/// `?kind=&limit=&cursor=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MemberQuery {
    /// Only members of this kind.
    pub kind: Option<MemberKind>,
    /// Page size (1 to 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Lists members in creation order. A page visits at most `MAX_VISIT` members, so a
/// page of a kind that is rare among them may hold fewer than `limit` with a cursor.
#[utoipa::path(get, operation_id = "members_list", path = "/api/v1/members", tag = "members", params(MemberQuery),
    responses((status = 200, body = Page<Member>), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn list(
    auth: Auth,
    ApiQuery(query): ApiQuery<MemberQuery>,
) -> Result<Json<Page<Member>>, ApiError> {
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    };
    let (limit, after) = (page.limit()?, page.cursor_id()?);
    let state = auth.handle.read();
    access::require_reader(&auth.ctx(&state))?;
    // A bounded walk: a page of a rare kind may come back short, with a cursor.
    let (items, next) = state.page_after(after, query.kind, None, limit, super::MAX_VISIT);
    Ok(Json(Page {
        items,
        next_cursor: next.map(|id| super::extract::cursor(&id.to_string())),
    }))
}

/// Creates a member (admins).
#[utoipa::path(post, operation_id = "members_create", path = "/api/v1/members", tag = "members", request_body = NewMember,
    responses((status = 201, body = Member), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(app): State<AppState>,
    auth: Auth,
    JsonBody(input): JsonBody<NewMember>,
) -> Result<Response, ApiError> {
    let (member, revision) = app
        .roster
        .write(auth.workspace, auth.actor, |ctx| {
            members::create(ctx, input)
        })
        .await?;
    Ok(written(StatusCode::CREATED, member, revision))
}

/// Reads a member: internal users read anyone, a customer only itself.
#[utoipa::path(get, operation_id = "members_show", path = "/api/v1/members/{id}", tag = "members", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Member), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn show(auth: Auth, ApiPath(id): ApiPath<String>) -> Result<Json<Member>, ApiError> {
    let id = path_id(&id, "member")?;
    let state = auth.handle.read();
    let member = state
        .member(&id)
        .ok_or_else(|| ApiError::not_found("member not found"))?;
    access::require_member_reader(&auth.ctx(&state), &id)?;
    Ok(Json(member))
}

/// Changes a member by JSON Merge Patch (admins); `"state": "deactivated"` deactivates.
#[utoipa::path(patch, operation_id = "members_update", path = "/api/v1/members/{id}", tag = "members", params(("id" = uuid::Uuid, Path)),
    request_body = MemberPatch,
    responses((status = 200, body = Member), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn update(
    State(app): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    JsonBody(patch): JsonBody<MemberPatch>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "member")?;
    let (member, revision) = app
        .roster
        .write(auth.workspace, auth.actor, |ctx| {
            members::update(ctx, id, patch)
        })
        .await?;
    Ok(written(StatusCode::OK, member, revision))
}

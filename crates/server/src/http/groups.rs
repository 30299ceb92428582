//! `/api/v1/groups` and `/api/v1/groups/{id}/members`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use roster_engine::WorkspaceState;
use roster_model::{DefaultGroup, Group, Id, MemberKind, MemberState, Membership};
use roster_ops::access;
use roster_ops::groups::{self, GroupPatch, NewGroup, RuleEffect};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{cursor, if_match, path_id, ApiPath, ApiQuery, Auth, JsonBody, PageQuery};
use super::{with_etag, written, ApiError, AppState, Page};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/groups", get(list).post(create))
        .route("/groups/{id}", get(show).patch(update).delete(remove))
        .route("/groups/{id}/members", get(members).post(add_member))
        .route("/groups/{id}/members/{member_id}", delete(remove_member))
}

/// A group as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct GroupView {
    #[serde(flatten)]
    group: Group,
    /// True for the eight groups every workspace starts with.
    default: bool,
    /// How many members effectively belong right now.
    member_count: u64,
    /// After a write that recomputed membership (a new or changed rule, a conversion):
    /// how many members joined and left.
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    effect: Option<RuleEffect>,
}

fn view(state: &WorkspaceState, group: &Group) -> GroupView {
    GroupView {
        group: group.clone(),
        default: group.is_default(),
        member_count: state.effective_members(group).len(),
        effect: None,
    }
}

fn saved_view(state: &WorkspaceState, (group, effect): &groups::Saved) -> GroupView {
    GroupView {
        effect: *effect,
        ..view(state, group)
    }
}

/// Lists groups, the defaults first among them (they are created first).
#[utoipa::path(get, operation_id = "groups_list", path = "/api/v1/groups", tag = "groups", params(PageQuery),
    responses((status = 200, body = Page<GroupView>), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn list(
    auth: Auth,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<Page<GroupView>>, ApiError> {
    let (limit, after) = (page.limit()?, page.cursor_id()?);
    let state = auth.handle.read();
    access::require_reader(&auth.ctx(&state))?;
    let items = state.groups_after(after).map(|g| view(&state, g));
    Ok(Json(Page::of(items, limit, |g| g.group.id)))
}

/// Creates a custom group (admins).
#[utoipa::path(post, operation_id = "groups_create", path = "/api/v1/groups", tag = "groups", request_body = NewGroup,
    responses((status = 201, body = GroupView), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(app): State<AppState>,
    auth: Auth,
    JsonBody(input): JsonBody<NewGroup>,
) -> Result<Response, ApiError> {
    let (saved, revision) = app
        .roster
        .write(auth.workspace, auth.actor, |ctx| groups::create(ctx, input))
        .await?;
    let shown = saved_view(&auth.handle.read(), &saved);
    Ok(with_etag(
        written(StatusCode::CREATED, shown, revision),
        saved.0.version,
    ))
}

fn find<'a>(state: &'a WorkspaceState, raw: &str) -> Result<&'a Group, ApiError> {
    let id = path_id(raw, "group")?;
    state
        .group(&id)
        .ok_or_else(|| ApiError::not_found("group not found"))
}

/// Reads a group; its version is the ETag.
#[utoipa::path(get, operation_id = "groups_show", path = "/api/v1/groups/{id}", tag = "groups", params(("id" = Uuid, Path)),
    responses((status = 200, body = GroupView), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn show(auth: Auth, ApiPath(id): ApiPath<String>) -> Result<Response, ApiError> {
    let state = auth.handle.read();
    let group = find(&state, &id)?;
    access::require_reader(&auth.ctx(&state))?;
    Ok(with_etag(
        Json(view(&state, group)).into_response(),
        group.version,
    ))
}

/// Renames, describes or re-owns a custom group (admins); honours `If-Match`.
#[utoipa::path(patch, operation_id = "groups_update", path = "/api/v1/groups/{id}", tag = "groups", params(("id" = Uuid, Path)),
    request_body = GroupPatch,
    responses((status = 200, body = GroupView), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn update(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    JsonBody(patch): JsonBody<GroupPatch>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "group")?;
    let expected = if_match(&headers)?;
    let (saved, revision) = app
        .roster
        .write(auth.workspace, auth.actor, |ctx| {
            groups::update(ctx, id, patch, expected)
        })
        .await?;
    let shown = saved_view(&auth.handle.read(), &saved);
    Ok(with_etag(
        written(StatusCode::OK, shown, revision),
        saved.0.version,
    ))
}

/// Deletes a custom group and its memberships (admins); honours `If-Match`.
#[utoipa::path(delete, operation_id = "groups_remove", path = "/api/v1/groups/{id}", tag = "groups", params(("id" = Uuid, Path)),
    responses((status = 200, description = "deleted; the body carries the revision"), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn remove(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "group")?;
    let expected = if_match(&headers)?;
    let ((), revision) = app
        .roster
        .write(auth.workspace, auth.actor, |ctx| {
            groups::delete(ctx, id, expected)
        })
        .await?;
    Ok(written(
        StatusCode::OK,
        serde_json::json!({"deleted": true}),
        revision,
    ))
}

pub use roster_ops::checks::Reason;

/// One member of a group.
#[derive(Serialize, ToSchema)]
pub struct GroupMember {
    /// The member.
    member_id: Uuid,
    /// `user` or `customer`.
    kind: MemberKind,
    /// Its email.
    email: Option<String>,
    /// Its display name.
    display_name: String,
    /// Its state; a deactivated member stays recorded but does not count.
    state: MemberState,
    /// Why it is a member.
    source: Reason,
    /// Who added it, for hand-kept groups.
    added_by: Option<Uuid>,
    /// When it was added, for hand-kept groups.
    #[serde(with = "time::serde::rfc3339::option")]
    added_at: Option<OffsetDateTime>,
    /// Whether it counts as a member right now.
    effective: bool,
}

/// One member of a page before it is shown: id, why, who added it and when.
type Entry = (Id, Reason, Option<Uuid>, Option<OffsetDateTime>);

/// Lists a group's members: the recorded ones of a static group (deactivated members
/// included, with `effective: false`), the derived ones of a maintained or dynamic group.
#[utoipa::path(get, operation_id = "groups_members", path = "/api/v1/groups/{id}/members", tag = "groups", params(("id" = Uuid, Path), PageQuery),
    responses((status = 200, body = Page<GroupMember>), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn members(
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<Page<GroupMember>>, ApiError> {
    let (limit, after) = (page.limit()?, page.cursor_id()?);
    let state = auth.handle.read();
    let group = find(&state, &id)?;
    access::require_reader(&auth.ctx(&state))?;
    let derived = group.is_maintained() || group.membership == Membership::Dynamic;
    // Only the page is read: a bounded walk in id order for a derived group, a range of
    // the recorded members for a static one.
    let (entries, next): (Vec<Entry>, _) = if derived {
        let reason = if group.default_group == Some(DefaultGroup::VerifiedCustomers)
            || group.membership == Membership::Dynamic
        {
            Reason::Rule
        } else {
            Reason::Default
        };
        let set = state.effective_members(group);
        let (page, next) = state.page_after(after, None, Some(&set), limit, super::MAX_VISIT);
        (
            page.into_iter()
                .map(|m| (m.id, reason, None, None))
                .collect(),
            next,
        )
    } else {
        let mut page: Vec<_> = state
            .static_memberships_after(&group.id, after)
            .take(limit + 1)
            .map(|m| (m.member_id, m.source.into(), m.added_by, Some(m.added_at)))
            .collect();
        let more = page.len() > limit;
        page.truncate(limit);
        let next = if more { page.last().map(|e| e.0) } else { None };
        (page, next)
    };
    let items: Vec<GroupMember> = entries
        .into_iter()
        .filter_map(|(member_id, source, added_by, added_at)| {
            let member = state.member(&member_id)?;
            Some(GroupMember {
                member_id,
                kind: member.kind,
                email: member.email.clone(),
                display_name: member.display_name.clone(),
                state: member.state,
                source,
                added_by,
                added_at,
                effective: state.is_effective_member(group, &member_id),
            })
        })
        .collect();
    let next_cursor = next.map(|id| cursor(&id.to_string()));
    Ok(Json(Page { items, next_cursor }))
}

/// The body of `POST /groups/{id}/members`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    /// The member to add.
    pub member_id: Uuid,
}

/// Adds a member to a static group: admins; members of that group; for Admins only admins;
/// for Customer Admins also customer admins of the member's account. 201 when added, 200
/// when the member was already recorded.
#[utoipa::path(post, operation_id = "groups_add_member", path = "/api/v1/groups/{id}/members", tag = "groups", params(("id" = Uuid, Path)),
    request_body = AddMember,
    responses((status = 201, body = roster_model::StaticMembership), (status = 200, body = roster_model::StaticMembership), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn add_member(
    State(app): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    JsonBody(input): JsonBody<AddMember>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "group")?;
    let ((membership, created), revision) = app
        .roster
        .write(auth.workspace, auth.actor, |ctx| {
            groups::add_member(ctx, id, input.member_id)
        })
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(written(status, membership, revision))
}

/// Removes a member from a static group; the owner and the last active admin stay.
#[utoipa::path(delete, operation_id = "groups_remove_member", path = "/api/v1/groups/{id}/members/{member_id}", tag = "groups",
    params(("id" = Uuid, Path), ("member_id" = Uuid, Path)),
    responses((status = 200, description = "removed; the body carries the revision"), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn remove_member(
    State(app): State<AppState>,
    auth: Auth,
    ApiPath((id, member_id)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "group")?;
    let member_id = path_id(&member_id, "member")?;
    let ((), revision) = app
        .roster
        .write(auth.workspace, auth.actor, |ctx| {
            groups::remove_member(ctx, id, member_id)
        })
        .await?;
    Ok(written(
        StatusCode::OK,
        serde_json::json!({"removed": true}),
        revision,
    ))
}

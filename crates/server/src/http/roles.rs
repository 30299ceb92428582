//! `/api/v1/roles` and `/api/v1/groups/{id}/roles`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use roster_model::{Category, Grant, ObjectType, Privilege, Role, RoleAssignment};
use roster_ops::access;
use roster_ops::roles::{self, NewRole, RolePatch};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::extract::{if_match, path_id, ApiPath, ApiQuery, Auth, JsonBody, PageQuery};
use super::{with_etag, written, ApiError, AppState, Page};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/roles", get(list).post(create))
        .route("/roles/{id}", get(show).patch(update).delete(remove))
        .route("/object-types", get(object_types))
        .route("/groups/{id}/roles", get(group_roles))
        .route("/groups/{id}/roles/{role_id}", put(assign).delete(revoke))
}

/// A privilege as the API shows it: with its object type's category.
#[derive(Serialize, ToSchema)]
pub struct GrantView {
    /// The object type.
    pub object_type: ObjectType,
    /// The privilege.
    pub privilege: Privilege,
    /// The object type's category.
    pub category: Category,
}

impl From<Grant> for GrantView {
    fn from(grant: Grant) -> Self {
        GrantView {
            object_type: grant.object_type,
            privilege: grant.privilege,
            category: grant.object_type.category(),
        }
    }
}

/// A role as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct RoleView {
    id: uuid::Uuid,
    name: String,
    description: String,
    privileges: Vec<GrantView>,
    /// Whether the workspace started with it.
    default: bool,
    version: i64,
    /// How many groups hold it.
    groups: usize,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

fn view(state: &roster_engine::WorkspaceState, role: &Role) -> RoleView {
    RoleView {
        id: role.id,
        name: role.name.clone(),
        description: role.description.clone(),
        privileges: role
            .privileges
            .iter()
            .copied()
            .map(GrantView::from)
            .collect(),
        default: role.default,
        version: role.version,
        groups: state.permissions().groups_of_role(&role.id).count(),
        created_at: role.created_at,
        updated_at: role.updated_at,
    }
}

/// An object type and its category.
#[derive(Serialize, ToSchema)]
pub struct ObjectTypeView {
    object_type: ObjectType,
    category: Category,
}

/// The object types privileges are about, with their categories.
#[utoipa::path(get, operation_id = "object_types_list", path = "/api/v1/object-types", tag = "roles",
    responses((status = 200, body = [ObjectTypeView]), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn object_types(auth: Auth) -> Result<Json<Vec<ObjectTypeView>>, ApiError> {
    let state = auth.handle.read();
    access::require_reader(&auth.ctx(&state))?;
    Ok(Json(
        ObjectType::ALL
            .into_iter()
            .map(|object_type| ObjectTypeView {
                object_type,
                category: object_type.category(),
            })
            .collect(),
    ))
}

/// Lists roles in id order (internal users).
#[utoipa::path(get, operation_id = "roles_list", path = "/api/v1/roles", tag = "roles", params(PageQuery),
    responses((status = 200, body = Page<RoleView>), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn list(
    auth: Auth,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<Page<RoleView>>, ApiError> {
    let (limit, after) = (page.limit()?, page.cursor_id()?);
    let state = auth.handle.read();
    access::require_reader(&auth.ctx(&state))?;
    let items = state
        .permissions()
        .roles_after(after)
        .map(|r| view(&state, r));
    Ok(Json(Page::of(items, limit, |r| r.id)))
}

/// Creates a role (admins).
#[utoipa::path(post, operation_id = "roles_create", path = "/api/v1/roles", tag = "roles", request_body = NewRole,
    responses((status = 201, body = RoleView), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(app): State<AppState>,
    auth: Auth,
    JsonBody(input): JsonBody<NewRole>,
) -> Result<Response, ApiError> {
    let (role, revision) = app
        .roster
        .write(auth.workspace, auth.actor, |ctx| roles::create(ctx, input))
        .await?;
    let shown = view(&auth.handle.read(), &role);
    Ok(with_etag(
        written(StatusCode::CREATED, shown, revision),
        role.version,
    ))
}

/// Reads a role; its version is the ETag.
#[utoipa::path(get, operation_id = "roles_show", path = "/api/v1/roles/{id}", tag = "roles", params(("id" = Uuid, Path)),
    responses((status = 200, body = RoleView), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn show(auth: Auth, ApiPath(id): ApiPath<String>) -> Result<Response, ApiError> {
    let id = path_id(&id, "role")?;
    let state = auth.handle.read();
    access::require_reader(&auth.ctx(&state))?;
    let role = state
        .permissions()
        .role(&id)
        .ok_or_else(|| ApiError::not_found("role not found"))?;
    Ok(with_etag(
        Json(view(&state, role)).into_response(),
        role.version,
    ))
}

/// Renames, describes or re-grants a role (admins); honours `If-Match`.
#[utoipa::path(patch, operation_id = "roles_update", path = "/api/v1/roles/{id}", tag = "roles", params(("id" = Uuid, Path)),
    request_body = RolePatch,
    responses((status = 200, body = RoleView), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn update(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    JsonBody(patch): JsonBody<RolePatch>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "role")?;
    let expected = if_match(&headers)?;
    let (role, revision) = app
        .roster
        .write(auth.workspace, auth.actor, |ctx| {
            roles::update(ctx, id, patch, expected)
        })
        .await?;
    let shown = view(&auth.handle.read(), &role);
    Ok(with_etag(
        written(StatusCode::OK, shown, revision),
        role.version,
    ))
}

/// Deletes a role, revoking it from every group first (admins); honours `If-Match`.
#[utoipa::path(delete, operation_id = "roles_remove", path = "/api/v1/roles/{id}", tag = "roles", params(("id" = Uuid, Path)),
    responses((status = 200, description = "deleted; the body carries the revision"), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn remove(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "role")?;
    let expected = if_match(&headers)?;
    let ((), revision) = app
        .roster
        .write(auth.workspace, auth.actor, |ctx| {
            roles::delete(ctx, id, expected)
        })
        .await?;
    Ok(written(
        StatusCode::OK,
        serde_json::json!({"deleted": true}),
        revision,
    ))
}

/// A group's role, with its assignment.
#[derive(Serialize, ToSchema)]
pub struct AssignedRole {
    /// The role.
    role: RoleView,
    /// Who assigned it, and when.
    assignment: RoleAssignment,
}

/// The roles a group holds (internal users).
#[utoipa::path(get, operation_id = "groups_roles", path = "/api/v1/groups/{id}/roles", tag = "roles", params(("id" = Uuid, Path)),
    responses((status = 200, body = [AssignedRole]), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn group_roles(
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = path_id(&id, "group")?;
    let state = auth.handle.read();
    if state.group(&id).is_none() {
        return Err(ApiError::not_found("group not found"));
    }
    access::require_reader(&auth.ctx(&state))?;
    let items: Vec<AssignedRole> = state
        .permissions()
        .assignments_of(&id)
        .filter_map(|a| {
            let role = state.permissions().role(&a.role_id)?;
            Some(AssignedRole {
                role: view(&state, role),
                assignment: a.clone(),
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "items": items })))
}

/// Gives a group a role (admins): 201 when assigned, 200 when the group held it already.
#[utoipa::path(put, operation_id = "groups_assign_role", path = "/api/v1/groups/{id}/roles/{role_id}", tag = "roles",
    params(("id" = Uuid, Path), ("role_id" = Uuid, Path)),
    responses((status = 201, body = RoleAssignment), (status = 200, body = RoleAssignment), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn assign(
    State(app): State<AppState>,
    auth: Auth,
    ApiPath((id, role_id)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "group")?;
    let role_id = path_id(&role_id, "role")?;
    let ((assignment, created), revision) = app
        .roster
        .write(auth.workspace, auth.actor, |ctx| {
            roles::assign(ctx, id, role_id)
        })
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(written(status, assignment, revision))
}

/// Takes a role from a group (admins).
#[utoipa::path(delete, operation_id = "groups_revoke_role", path = "/api/v1/groups/{id}/roles/{role_id}", tag = "roles",
    params(("id" = Uuid, Path), ("role_id" = Uuid, Path)),
    responses((status = 200, description = "revoked; the body carries the revision"), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn revoke(
    State(app): State<AppState>,
    auth: Auth,
    ApiPath((id, role_id)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "group")?;
    let role_id = path_id(&role_id, "role")?;
    let ((), revision) = app
        .roster
        .write(auth.workspace, auth.actor, |ctx| {
            roles::revoke(ctx, id, role_id)
        })
        .await?;
    Ok(written(
        StatusCode::OK,
        serde_json::json!({"revoked": true}),
        revision,
    ))
}

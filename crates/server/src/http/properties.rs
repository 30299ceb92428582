//! `/api/v1/properties`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use roster_model::PropertyDef;
use roster_ops::access;
use roster_ops::properties::{self, NewProperty, PropertyPatch};

use super::extract::{path_id, ApiPath, ApiQuery, Auth, JsonBody, PageQuery};
use super::{written, ApiError, AppState, Page};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/properties", get(list).post(create))
        .route("/properties/{id}", get(show).patch(update).delete(delete))
}

/// Lists the property definitions in creation order.
#[utoipa::path(get, operation_id = "properties_list", path = "/api/v1/properties", tag = "properties", params(PageQuery),
    responses((status = 200, body = Page<PropertyDef>), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn list(
    auth: Auth,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<Page<PropertyDef>>, ApiError> {
    let (limit, after) = (page.limit()?, page.cursor_id()?);
    let state = auth.handle.read();
    access::require_reader(&auth.ctx(&state))?;
    let mut items: Vec<PropertyDef> = state
        .properties()
        .filter(|p| after.is_none_or(|a| p.id > a))
        .cloned()
        .collect();
    items.sort_by_key(|p| p.id);
    Ok(Json(Page::of(items.into_iter(), limit, |p| p.id)))
}

/// Defines a property (admins).
#[utoipa::path(post, operation_id = "properties_create", path = "/api/v1/properties", tag = "properties", request_body = NewProperty,
    responses((status = 201, body = PropertyDef), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(app): State<AppState>,
    auth: Auth,
    JsonBody(input): JsonBody<NewProperty>,
) -> Result<Response, ApiError> {
    let (property, revision) = app
        .roster
        .write(auth.workspace, auth.actor, |ctx| {
            properties::create(ctx, input)
        })
        .await?;
    Ok(written(StatusCode::CREATED, property, revision))
}

/// Reads a property definition.
#[utoipa::path(get, operation_id = "properties_show", path = "/api/v1/properties/{id}", tag = "properties", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = PropertyDef), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn show(auth: Auth, ApiPath(id): ApiPath<String>) -> Result<Json<PropertyDef>, ApiError> {
    let id = path_id(&id, "property")?;
    let state = auth.handle.read();
    let property = state
        .property(&id)
        .ok_or_else(|| ApiError::not_found("property not found"))?;
    access::require_reader(&auth.ctx(&state))?;
    Ok(Json(property.clone()))
}

/// Changes a property's description, or its type while no member has a value (admins).
#[utoipa::path(patch, operation_id = "properties_update", path = "/api/v1/properties/{id}", tag = "properties", params(("id" = uuid::Uuid, Path)),
    request_body = PropertyPatch,
    responses((status = 200, body = PropertyDef), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn update(
    State(app): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    JsonBody(patch): JsonBody<PropertyPatch>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "property")?;
    let (property, revision) = app
        .roster
        .write(auth.workspace, auth.actor, |ctx| {
            properties::update(ctx, id, patch)
        })
        .await?;
    Ok(written(StatusCode::OK, property, revision))
}

/// Deletes a property and its values on every member (admins).
#[utoipa::path(delete, operation_id = "properties_delete", path = "/api/v1/properties/{id}", tag = "properties", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "deleted; the body carries the revision"), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn delete(
    State(app): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "property")?;
    let ((), revision) = app
        .roster
        .write(auth.workspace, auth.actor, |ctx| {
            properties::delete(ctx, id)
        })
        .await?;
    Ok(written(
        StatusCode::OK,
        serde_json::json!({"deleted": true}),
        revision,
    ))
}

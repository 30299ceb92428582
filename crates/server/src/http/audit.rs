//! `GET /api/v1/audit`: every change, newest first (admins).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use roster_model::AuditRecord;
use roster_ops::access;

use super::extract::{position_cursor, ApiQuery, Auth, PageQuery};
use super::{ApiError, AppState, Page};

pub fn routes() -> Router<AppState> {
    Router::new().route("/audit", get(list))
}

/// Lists audit records newest first.
#[utoipa::path(get, operation_id = "audit_list", path = "/api/v1/audit", tag = "audit", params(PageQuery),
    responses((status = 200, body = Page<AuditRecord>), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(app): State<AppState>,
    auth: Auth,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<Page<AuditRecord>>, ApiError> {
    {
        let state = auth.handle.read();
        access::require_admin(&auth.ctx(&state), "only admins read the audit log")?;
    }
    let limit = page.limit()?;
    let before = page.cursor_position()?;
    let limit32 = u32::try_from(limit + 1).unwrap_or(u32::MAX);
    let mut items = app
        .roster
        .store()
        .audit(auth.workspace, before, limit32)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|r| position_cursor(r.revision, r.seq))
    } else {
        None
    };
    Ok(Json(Page { items, next_cursor }))
}

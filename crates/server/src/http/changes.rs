//! `GET /api/v1/changes?after=REV`: every change of effective membership after a
//! revision, oldest first (admins).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use roster_model::{ChangeRecord, Revision};
use roster_ops::access;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{position_cursor, ApiQuery, Auth, PageQuery};
use super::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new().route("/changes", get(list))
}

/// `?after=&limit=&cursor=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ChangesQuery {
    /// Changes of revisions after this one (0 by default: from the start; never
    /// negative).
    #[param(minimum = 0)]
    pub after: Option<Revision>,
    /// Page size (1 to 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`; takes precedence over `after`.
    pub cursor: Option<String>,
}

/// A page of the change log.
#[derive(Serialize, ToSchema)]
pub struct ChangesPage {
    /// Changes, oldest first.
    items: Vec<ChangeRecord>,
    /// Pass as `cursor` for more; `null` when this page reached the end.
    next_cursor: Option<String>,
    /// The revision this server has applied: a reader that has seen every change up to
    /// here can next ask with `after` set to it.
    revision: Revision,
}

/// Lists changes of effective membership after a revision.
#[utoipa::path(get, operation_id = "changes_list", path = "/api/v1/changes", tag = "changes", params(ChangesQuery),
    responses((status = 200, body = ChangesPage), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(app): State<AppState>,
    auth: Auth,
    ApiQuery(query): ApiQuery<ChangesQuery>,
) -> Result<Json<ChangesPage>, ApiError> {
    let revision = {
        let state = auth.handle.read();
        access::require_admin(&auth.ctx(&state), "only admins read the change log")?;
        state.revision()
    };
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    };
    let limit = page.limit()?;
    if query.after.is_some_and(|after| after < 0) {
        return Err(ApiError::invalid(
            Some("after".into()),
            "after is a revision: 0 or more",
        ));
    }
    let after = page
        .cursor_position()?
        .unwrap_or((query.after.unwrap_or(0), i32::MAX));
    let fetch = u32::try_from(limit + 1).unwrap_or(u32::MAX);
    let mut items = app
        .roster
        .store()
        .changes_after(auth.workspace, after, fetch)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|c| position_cursor(c.revision, c.seq))
    } else {
        None
    };
    Ok(Json(ChangesPage {
        items,
        next_cursor,
        revision,
    }))
}

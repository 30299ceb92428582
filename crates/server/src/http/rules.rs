//! `POST /api/v1/rules/preview`: what a rule would do, without saving anything.

use axum::routing::post;
use axum::{Json, Router};
use roster_ops::rules::{self, Preview, PreviewRequest};

use super::extract::{Auth, JsonBody};
use super::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new().route("/rules/preview", post(preview))
}

/// How many members a rule matches, a sample, and (with `group_id`) how many would join
/// and leave that group (admins). The rule is evaluated over every member of its kind,
/// so it runs in the pool (`crate::pool`), off the async workers.
#[utoipa::path(post, operation_id = "rules_preview", path = "/api/v1/rules/preview", tag = "rules",
    request_body = PreviewRequest,
    responses((status = 200, body = Preview), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn preview(
    auth: Auth,
    JsonBody(request): JsonBody<PreviewRequest>,
) -> Result<Json<Preview>, ApiError> {
    let (handle, actor) = (auth.handle.clone(), auth.actor);
    let preview = crate::pool::run(auth.handle.turns(), move || {
        let state = handle.read();
        rules::preview(
            &roster_ops::Ctx {
                state: &state,
                actor,
                now: roster_model::now(),
            },
            request,
        )
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    Ok(Json(preview))
}

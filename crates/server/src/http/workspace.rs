//! `GET /api/v1/workspace`: which workspace a token is in, and its revision.

use axum::routing::get;
use axum::{Json, Router};
use roster_model::{Revision, Workspace};
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::Auth;
use super::{ApiError, AppState};

/// The token's workspace.
#[derive(Serialize, ToSchema)]
pub struct WorkspaceView {
    #[serde(flatten)]
    workspace: Workspace,
    /// The revision this server has applied.
    revision: Revision,
    /// The member behind the token.
    #[schema(value_type = Option<uuid::Uuid>)]
    me: Option<roster_model::Id>,
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/workspace", get(show))
}

/// The workspace of the token, its revision and the acting member.
#[utoipa::path(get, operation_id = "workspace_show", path = "/api/v1/workspace", tag = "workspace",
    responses((status = 200, body = WorkspaceView), (status = 401, body = super::Problem, content_type = "application/problem+json")))]
pub async fn show(auth: Auth) -> Result<Json<WorkspaceView>, ApiError> {
    let state = auth.handle.read();
    Ok(Json(WorkspaceView {
        workspace: state.workspace().clone(),
        revision: state.revision(),
        me: auth.actor.member_id(),
    }))
}

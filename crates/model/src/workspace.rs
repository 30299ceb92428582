use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use time::OffsetDateTime;
use uuid::Uuid;

/// A tenant: every other object belongs to exactly one workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Workspace {
    /// The workspace's id; fixed by the token of every request.
    pub id: Uuid,
    /// A human name, not necessarily unique.
    pub name: String,
    /// When the workspace was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

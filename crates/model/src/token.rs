use crate::{Id, Timestamp};
use serde::{Deserialize, Serialize};

/// An API token as the store keeps it: only the SHA-256 of the secret, never the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The token's id, used to revoke it.
    pub id: Id,
    /// The member the token acts as.
    pub member_id: Id,
    /// Hex SHA-256 of the secret.
    pub hash: String,
    /// A label chosen by its creator.
    #[serde(default)]
    pub name: Option<String>,
    /// Who created it; `None` for the command line.
    #[serde(default)]
    pub created_by: Option<Id>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL names no store Roster knows. Only the URL's scheme is kept: the
    /// rest may hold a password, and errors are printed and logged.
    #[error("unsupported database URL scheme `{0}`: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    /// The workspace does not exist.
    #[error("workspace {0} not found")]
    WorkspaceNotFound(roster_model::Id),
    /// The database refused or failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored document could not be read back.
    #[error("corrupt stored record: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// A thread decoding stored documents failed.
    #[error("decoding stored records failed")]
    DecodePanicked,
    /// A stored id is not a UUID.
    #[error("corrupt stored id: {0}")]
    CorruptId(#[from] uuid::Error),
}

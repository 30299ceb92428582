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
    /// The connection was lost while the store was committing: the write may have been
    /// committed or not, and only reading it back tells.
    #[error("the store did not confirm the commit, which may or may not have happened: {0}")]
    CommitUnknown(sqlx::Error),
}

impl StoreError {
    /// Whether the store is out of reach or too busy to answer within its deadlines
    /// (connection lost or refused, no pooled connection in time, a lock or statement
    /// timeout, the database shutting down): a reason to answer `503` and retry later,
    /// not a fault of the request or of Roster.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(error) => unavailable(error),
            StoreError::CommitUnknown(_) => true,
            _ => false,
        }
    }

    /// Wraps an error of the final COMMIT: one that lost the connection leaves the
    /// outcome unknown ([`StoreError::CommitUnknown`]); any other is a refusal.
    pub(crate) fn of_commit(error: sqlx::Error) -> Self {
        if connection_lost(&error) {
            StoreError::CommitUnknown(error)
        } else {
            StoreError::Database(error)
        }
    }
}

/// A database that cannot serve now: the connection gone ([`connection_lost`], which
/// takes the connection exceptions `08…` and shutting down or starting, `57P0…`), no
/// pooled connection in time, and the SQLSTATE codes of lock and statement timeouts
/// (`55P03`, `57014`), an idle transaction ended (`25P03`) and too many connections
/// (`53300`).
fn unavailable(error: &sqlx::Error) -> bool {
    if connection_lost(error) || matches!(error, sqlx::Error::PoolTimedOut) {
        return true;
    }
    let sqlx::Error::Database(database) = error else {
        return false;
    };
    let Some(code) = database.code() else {
        return false;
    };
    // SQLite reports its result code in decimal: BUSY (5) and LOCKED (6), with their
    // extended forms in the high bits.
    if let Ok(sqlite) = code.parse::<u32>() {
        return matches!(sqlite & 0xff, 5 | 6);
    }
    matches!(code.as_ref(), "55P03" | "57014" | "25P03" | "53300")
}

/// Whether the connection to the database is gone (or never came).
fn connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(database) => database
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P0")),
        _ => false,
    }
}

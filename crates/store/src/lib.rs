//! Roster's store: the only source of truth.
//!
//! One trait, [`Store`], with a SQLite and a PostgreSQL implementation that share their
//! SQL (both accept `$n` parameters, `ON CONFLICT` upserts and `RETURNING`). A write is a
//! [`WriteTx`]: it takes the workspace's revision lock first, lets the caller catch up
//! with events it has not seen, then commits a list of [`Event`]s (applied to the tables
//! and appended to the event log) and their audit entries atomically.

mod error;
mod sql;

pub use error::StoreError;

use async_trait::async_trait;
use roster_model::{
    AuditEntry, AuditRecord, ChangeRecord, Event, Id, MembershipChange, OutboxMessage, Revision,
    RoleChange, Snapshot, Timestamp, Workspace,
};

/// The result of a store call.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Events of one committed revision, in the order they were written.
pub type RevisionEvents = (Revision, Vec<Event>);

/// Where Roster keeps its data. Implemented for SQLite and PostgreSQL.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`, for logs and diagnostics.
    fn backend(&self) -> &'static str;

    /// Creates a workspace and commits its first events (with their audit entries and
    /// membership changes) as revision 1.
    async fn create_workspace(&self, workspace: &Workspace, write: Write<'_>) -> Result<Revision>;

    /// Creates a workspace as [`create_workspace`](Store::create_workspace) does, but only
    /// when the store holds none; `false` when one was there. Servers started together
    /// on an empty database are serialized (an advisory lock on PostgreSQL), so one of
    /// them makes the first workspace and the others find it.
    async fn create_first_workspace(&self, workspace: &Workspace, write: Write<'_>)
        -> Result<bool>;

    /// Every workspace with its current revision.
    async fn workspace_revisions(&self) -> Result<Vec<(Id, Revision)>>;

    /// The workspace a live token (by the hash of its secret) belongs to.
    async fn workspace_of_token(&self, hash: &str) -> Result<Option<Id>>;

    /// The workspace a live SCIM token (by the hash of its secret) belongs to.
    async fn workspace_of_scim_token(&self, hash: &str) -> Result<Option<Id>>;

    /// Everything about a workspace, read at one consistent revision; `None` if no such workspace.
    async fn load(&self, workspace: Id) -> Result<Option<Snapshot>> {
        let mut members = Vec::new();
        let snapshot = self
            .load_streaming(workspace, &mut |chunk| members.extend(chunk))
            .await?;
        Ok(snapshot.map(|snapshot| Snapshot {
            members,
            ..snapshot
        }))
    }

    /// [`load`](Self::load), with the members handed to `members` in chunks as they are
    /// decoded (the snapshot's `members` is then empty): a million decoded members hold
    /// about two gigabytes, which a server building its engine need never hold at once.
    async fn load_streaming(
        &self,
        workspace: Id,
        members: &mut (dyn FnMut(Vec<roster_model::Member>) + Send),
    ) -> Result<Option<Snapshot>>;

    /// The committed revisions after `after`, oldest first.
    async fn events_after(&self, workspace: Id, after: Revision) -> Result<Vec<RevisionEvents>>;

    /// Starts a write: locks the workspace's revision and reserves the next one.
    async fn begin_write(&self, workspace: Id) -> Result<Box<dyn WriteTx>>;

    /// Change-log records after `(revision, seq)`, oldest first.
    async fn changes_after(
        &self,
        workspace: Id,
        after: (Revision, i32),
        limit: u32,
    ) -> Result<Vec<ChangeRecord>>;

    /// The workspace an invitation (by the hash of its token) belongs to, whatever the
    /// invitation's state: the engine decides whether it can still be accepted.
    async fn workspace_of_invitation(&self, hash: &str) -> Result<Option<Id>>;

    /// Claims up to `limit` outbox messages that are due at `now` and not claimed by a
    /// live sender, until `until`; oldest due first. Any number of servers may claim at
    /// once: each message goes to one of them.
    async fn claim_outbox(
        &self,
        now: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>>;

    /// Records what became of a message claimed until `claim` and wipes its body unless
    /// it is tried again. A message whose claim has passed to another sender meanwhile
    /// is left to that sender.
    async fn settle_outbox(
        &self,
        id: Id,
        claim: Timestamp,
        settlement: OutboxSettlement<'_>,
    ) -> Result<()>;

    /// Audit records newest first, strictly before `(revision, seq)` when given.
    async fn audit(
        &self,
        workspace: Id,
        before: Option<(Revision, i32)>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>>;
}

/// An open write on one workspace. Dropping it without [`commit`](WriteTx::commit)
/// rolls back, releasing the reserved revision.
#[async_trait]
pub trait WriteTx: Send {
    /// The revision this write will commit as.
    fn revision(&self) -> Revision;

    /// Revisions committed after `after` and before this write, oldest first: what the
    /// caller's engine must apply before it decides.
    async fn events_after(&mut self, after: Revision) -> Result<Vec<RevisionEvents>>;

    /// Applies the events to the tables, appends them to the event log, writes the audit
    /// entries, and commits, all or nothing.
    async fn commit(self: Box<Self>, write: Write<'_>) -> Result<()>;
}

/// What one write commits, all or nothing.
#[derive(Debug, Clone, Copy)]
pub struct Write<'a> {
    /// The facts, applied to the tables and appended to the event log.
    pub events: &'a [Event],
    /// The audit entries.
    pub audit: &'a [AuditEntry],
    /// The changes of effective membership, appended to the change log.
    pub changes: &'a [MembershipChange],
    /// The changes of role assignment, appended to the change log after them.
    pub role_changes: &'a [RoleChange],
    /// Emails to send once this write has committed, queued in the outbox with it.
    pub outbox: &'a [OutboxMessage],
    /// The time stamped on the audit entries and changes.
    pub at: Timestamp,
}

/// What became of a claimed outbox message.
#[derive(Debug, Clone, Copy)]
pub enum OutboxSettlement<'a> {
    /// The mail server accepted it at this time.
    Sent(Timestamp),
    /// This try failed; try again at the given time.
    Retry {
        /// Why the try failed.
        error: &'a str,
        /// When the next try is due.
        at: Timestamp,
    },
    /// This try failed and no other follows.
    Failed(&'a str),
    /// It need not be sent: its invitation was accepted, revoked, resent or expired.
    Cancelled,
}

/// How long a request may wait on the store, so that an unreachable database, a lock
/// held by a frozen server or a runaway statement fails the request within a bound
/// instead of holding it (and whatever it holds) for as long as the database takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// Waiting for a pooled connection (connecting included).
    pub connect: std::time::Duration,
    /// Waiting for a row or table lock (PostgreSQL's `lock_timeout`, SQLite's busy
    /// timeout): a peer holding a workspace's row lock stalls writes for at most this.
    pub lock: std::time::Duration,
    /// One statement (PostgreSQL's `statement_timeout`). Loading a workspace at start-up
    /// is exempt: it is one long read, and a server is not ready before it ends.
    pub statement: std::time::Duration,
    /// A transaction left idle (PostgreSQL's `idle_in_transaction_session_timeout`): a
    /// server that freezes or loses its network mid-write gives its locks back after this.
    pub idle_in_transaction: std::time::Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        let seconds = std::time::Duration::from_secs;
        Deadlines {
            connect: seconds(5),
            lock: seconds(5),
            statement: seconds(10),
            idle_in_transaction: seconds(10),
        }
    }
}

/// Opens the store a database URL names (`sqlite://PATH`, `postgres://…`, or a plain file
/// path, taken as SQLite) and brings its schema up to date, with the default
/// [`Deadlines`].
pub async fn open(url: &str) -> Result<Box<dyn Store>> {
    open_with(url, Deadlines::default()).await
}

/// [`open`], with the deadlines given.
pub async fn open_with(url: &str, deadlines: Deadlines) -> Result<Box<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Box::new(sql::PgStore::open(url, deadlines).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Box::new(sql::SqliteStore::open(url, deadlines).await?))
    } else if !url.contains("://") && !url.is_empty() {
        Ok(Box::new(
            sql::SqliteStore::open(&format!("sqlite://{url}"), deadlines).await?,
        ))
    } else {
        let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
        Err(StoreError::UnsupportedUrl(scheme.to_owned()))
    }
}

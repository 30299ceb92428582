//! The runtime: one engine per workspace, following the store.
//!
//! The store is the only source of truth. A write takes the workspace's lock in this
//! process, then the store's revision lock, catches the engine up with any revision
//! another process committed, lets an operation decide against that current state,
//! commits the operation's events, and applies them to the engine before answering. A
//! background follower applies other processes' revisions within a fraction of a second.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use roster_engine::WorkspaceState;
use roster_model::{Actor, Id, OutboxMessage, Revision};
use roster_ops::{Ctx, OpError, Outcome};
use roster_store::{RevisionEvents, Store, StoreError, Write};
use tokio::sync::{Mutex, Notify};

/// How often the follower looks for revisions written by other processes.
pub const FOLLOW_INTERVAL: Duration = Duration::from_millis(200);

/// How long a read that names `at_least_revision` waits for this server to apply it.
pub const REVISION_WAIT: Duration = Duration::from_secs(2);

/// Why the runtime could not serve a request.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// An operation refused.
    #[error(transparent)]
    Op(#[from] OpError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The workspace does not exist.
    #[error("workspace not found")]
    WorkspaceNotFound,
    /// The engine could not be built from the store.
    #[error("could not load the workspace: {0}")]
    Load(#[from] roster_engine::ApplyError),
    /// A batched write failed as a whole (its store error is in the log).
    #[error("the batched write failed: {0}")]
    BatchFailed(String),
    /// A batched write failed as a whole because the store was out of reach or busy
    /// past its deadlines ([`StoreError::is_unavailable`]).
    #[error("the store is unavailable: {0}")]
    BatchUnavailable(String),
    /// The writes queued before this one to the same workspace held it up past the
    /// wait (they are waiting on the store); nothing was changed, answered `503`.
    #[error("earlier writes to this workspace are waiting on the store; nothing was changed")]
    WriterBusy,
    /// The workspace's engine waits for a reload from the store (it may hold what the
    /// store does not); answered `503`.
    #[error("this server is reloading the workspace from the store; retry shortly")]
    Reloading,
    /// A read named a revision this server has not applied within the wait.
    #[error("revision {wanted} is not applied yet (this server is at {at}); retry shortly")]
    RevisionNotReached {
        /// The revision asked for.
        wanted: Revision,
        /// The revision applied.
        at: Revision,
    },
}

/// Whether a workspace is made whatever the store holds, or only in an empty store.
#[derive(Debug, Clone, Copy)]
enum BootstrapWhen {
    Always,
    StoreEmpty,
}

impl RuntimeError {
    /// Whether the request failed because the store was out of reach or too busy to
    /// answer within its deadlines: answered `503` with `Retry-After`, not `500`.
    pub fn is_unavailable(&self) -> bool {
        match self {
            RuntimeError::Store(error) => error.is_unavailable(),
            RuntimeError::BatchUnavailable(_)
            | RuntimeError::Reloading
            | RuntimeError::WriterBusy => true,
            _ => false,
        }
    }

    /// Whether the store lost the connection while committing this write, so that it
    /// may have been applied: the client must read it back before it retries.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, RuntimeError::Store(StoreError::CommitUnknown(_)))
    }
}

/// One workspace's engine and the lock that orders this process's writes to it.
pub struct WorkspaceHandle {
    state: RwLock<WorkspaceState>,
    writer: Mutex<()>,
    queue: crate::batch::Queue,
    turns: crate::pool::Turns,
    /// Set when the engine may hold what the store does not (a batch the store refused
    /// and a rebuild that failed, or an engine found ahead of the store): the workspace
    /// is answered `503` until the follower has reloaded it.
    stale: std::sync::atomic::AtomicBool,
}

impl WorkspaceHandle {
    /// Reads the engine. Hold the guard briefly: writers wait for it.
    pub fn read(&self) -> RwLockReadGuard<'_, WorkspaceState> {
        if let Ok(guard) = self.state.try_read() {
            return guard;
        }
        let wait = || {
            self.state
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        };
        wait_off_worker(wait)
    }

    /// Marks the engine as possibly holding what the store does not: requests to the
    /// workspace are answered `503` until the follower reloads it.
    pub(crate) fn mark_stale(&self) {
        self.stale.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether the workspace waits for a reload (see [`mark_stale`](Self::mark_stale)).
    pub fn is_stale(&self) -> bool {
        self.stale.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The revision the engine has applied.
    pub fn revision(&self) -> Revision {
        self.read().revision()
    }

    /// The lock that orders this process's writes to the workspace.
    pub(crate) fn writer(&self) -> &Mutex<()> {
        &self.writer
    }

    /// Writes waiting for the next group commit.
    pub(crate) fn queue(&self) -> &crate::batch::Queue {
        &self.queue
    }

    /// This workspace's turns in the pool that runs work proportional to it.
    pub(crate) fn turns(&self) -> &crate::pool::Turns {
        &self.turns
    }

    /// The engine, for a batch that applies as it decides (see `batch`).
    pub(crate) fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, WorkspaceState> {
        self.state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies committed revisions.
    pub(crate) fn apply_revisions(&self, revisions: &[RevisionEvents]) {
        self.apply(revisions);
    }

    fn apply(&self, revisions: &[RevisionEvents]) {
        if revisions.is_empty() {
            return;
        }
        let mut state = match self.state.try_write() {
            Ok(guard) => guard,
            Err(_) => wait_off_worker(|| {
                self.state
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
            }),
        };
        for (revision, events) in revisions {
            state.apply(*revision, events);
        }
    }
}

/// The two kinds of bearer token, kept apart: each is refused where the other is taken.
#[derive(Debug, Clone, Copy)]
enum TokenKind {
    /// An API token, for `/api/v1`.
    Api,
    /// A SCIM token, for `/scim/v2`.
    Scim,
}

/// Waits for the engine's lock without stalling the async runtime. A batch holds the
/// state's write lock while its commit runs on the runtime's I/O driver (see `batch`);
/// a reader that blocked a worker thread outright could, with every worker so blocked,
/// stop the driver the commit waits on. On a multi-threaded runtime the wait therefore
/// gives up the worker first (`block_in_place`), and the runtime keeps going.
fn wait_off_worker<T>(wait: impl FnOnce() -> T) -> T {
    let on_worker = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if on_worker {
        tokio::task::block_in_place(wait)
    } else {
        wait()
    }
}

/// The first write of a new workspace (bootstrap or import), with the membership changes
/// it makes from nothing.
pub fn first_write<'a>(
    workspace: &roster_model::Workspace,
    events: &'a [roster_model::Event],
    audit: &'a [roster_model::AuditEntry],
    at: roster_model::Timestamp,
) -> OwnedWrite<'a> {
    // From nothing, every effective membership is a change: read them off a state built
    // from the events, which is linear in memberships (the dry run would compare every
    // member with every group).
    let mut state = WorkspaceState::empty(workspace.clone(), 0);
    state.apply(1, events);
    let changes = state
        .groups_after(None)
        .flat_map(|group| {
            let members: Vec<_> = state.ids_of(&state.effective_members(group)).collect();
            members
                .into_iter()
                .map(move |member_id| roster_model::MembershipChange {
                    group_id: group.id,
                    member_id,
                    change: roster_model::ChangeKind::Added,
                    cause: "workspace_created".into(),
                })
        })
        .collect();
    let role_changes = state
        .permissions()
        .assignments()
        .map(|a| roster_model::RoleChange {
            group_id: a.group_id,
            role_id: a.role_id,
            change: roster_model::ChangeKind::Assigned,
            cause: "workspace_created".into(),
        })
        .collect();
    OwnedWrite {
        events,
        audit,
        changes,
        role_changes,
        at,
    }
}

/// A [`Write`] that owns its changes.
pub struct OwnedWrite<'a> {
    events: &'a [roster_model::Event],
    audit: &'a [roster_model::AuditEntry],
    changes: Vec<roster_model::MembershipChange>,
    role_changes: Vec<roster_model::RoleChange>,
    at: roster_model::Timestamp,
}

impl OwnedWrite<'_> {
    /// The write to hand to the store.
    pub fn as_write(&self) -> Write<'_> {
        Write {
            events: self.events,
            audit: self.audit,
            changes: &self.changes,
            role_changes: &self.role_changes,
            outbox: &[],
            at: self.at,
        }
    }
}

/// The workspaces this process serves, over one store.
pub struct Roster {
    store: Arc<dyn Store>,
    workspaces: RwLock<HashMap<Id, Arc<WorkspaceHandle>>>,
    /// Which workspace a token hash was last found in; only a hint, always confirmed by
    /// that workspace's engine, so a revoked token is never honoured from here.
    token_index: RwLock<HashMap<String, Id>>,
    /// Token hashes recently found in no workspace, so that a client repeating an
    /// unknown token does not reach the store each time (see [`Misses`]).
    misses: Misses,
    loading: Mutex<()>,
    /// Woken when a write queued emails, so that this process's sender sends them at once.
    outbox_ready: Notify,
    /// How long a write waits for its workspace's writer lock (the write before it may
    /// be waiting on an unreachable store): past it the write is `503`.
    writer_wait: Duration,
}

impl Roster {
    /// Opens the store a URL names. Workspaces are loaded when first used; a server calls
    /// [`load_all`](Self::load_all) to have them ready before it listens.
    pub async fn open(database_url: &str) -> Result<Arc<Self>, RuntimeError> {
        Self::open_with(database_url, roster_store::Deadlines::default()).await
    }

    /// [`open`](Self::open), with how long a request may wait on the store.
    pub async fn open_with(
        database_url: &str,
        deadlines: roster_store::Deadlines,
    ) -> Result<Arc<Self>, RuntimeError> {
        let store: Arc<dyn Store> =
            Arc::from(roster_store::open_with(database_url, deadlines).await?);
        Ok(Arc::new(Roster {
            store,
            workspaces: RwLock::new(HashMap::new()),
            token_index: RwLock::new(HashMap::new()),
            misses: Misses::default(),
            loading: Mutex::new(()),
            outbox_ready: Notify::new(),
            writer_wait: deadlines.connect + deadlines.lock,
        }))
    }

    /// Loads every workspace in the store; returns how many there are.
    pub async fn load_all(&self) -> Result<usize, RuntimeError> {
        let workspaces = self.store.workspace_revisions().await?;
        for (id, _) in &workspaces {
            self.workspace(*id).await?;
        }
        Ok(workspaces.len())
    }

    /// Resolves when a write of this process has queued emails since the last call.
    pub async fn outbox_written(&self) {
        self.outbox_ready.notified().await;
    }

    /// The store, for what the engine does not keep (the audit log).
    pub(crate) fn store_arc(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    fn loaded(&self, id: &Id) -> Option<Arc<WorkspaceHandle>> {
        self.workspaces
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(id)
            .cloned()
    }

    /// A workspace's engine, loading it from the store the first time; `Reloading` while
    /// it waits for a reload.
    pub async fn workspace(&self, id: Id) -> Result<Arc<WorkspaceHandle>, RuntimeError> {
        let handle = self.engine(id).await?;
        if handle.is_stale() {
            return Err(RuntimeError::Reloading);
        }
        Ok(handle)
    }

    /// [`workspace`](Self::workspace), stale or not: for the follower that reloads it.
    async fn engine(&self, id: Id) -> Result<Arc<WorkspaceHandle>, RuntimeError> {
        if let Some(handle) = self.loaded(&id) {
            return Ok(handle);
        }
        let _loading = self.loading.lock().await;
        if let Some(handle) = self.loaded(&id) {
            return Ok(handle);
        }
        let state = build_state(self.store.as_ref(), id).await?;
        let handle = Arc::new(WorkspaceHandle {
            state: RwLock::new(state),
            writer: Mutex::new(()),
            queue: crate::batch::Queue::default(),
            turns: crate::pool::Turns::default(),
            stale: std::sync::atomic::AtomicBool::new(false),
        });
        self.workspaces
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(id, handle.clone());
        Ok(handle)
    }

    /// Every workspace this process has loaded.
    pub fn workspace_ids(&self) -> Vec<Id> {
        self.workspaces
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .keys()
            .copied()
            .collect()
    }

    /// Takes a workspace's writer lock for a write, within [`writer_wait`]: a write
    /// queued behind others that each wait on an unreachable store is answered `503`
    /// instead of waiting for all of them.
    ///
    /// [`writer_wait`]: Roster::writer_wait
    pub(crate) async fn lock_writer<'h>(
        &self,
        handle: &'h WorkspaceHandle,
    ) -> Result<tokio::sync::MutexGuard<'h, ()>, RuntimeError> {
        tokio::time::timeout(self.writer_wait, handle.writer.lock())
            .await
            .map_err(|_| RuntimeError::WriterBusy)
    }

    /// How long a write waits for its workspace's writer lock.
    pub(crate) fn writer_wait(&self) -> Duration {
        self.writer_wait
    }

    /// Brings a workspace's engine up to the store's latest revision.
    pub async fn catch_up(&self, handle: &WorkspaceHandle, id: Id) -> Result<(), RuntimeError> {
        let _writer = handle.writer.lock().await;
        let missed = self.store.events_after(id, handle.revision()).await?;
        handle.apply(&missed);
        Ok(())
    }

    /// Returns once the workspace's engine has applied `revision`, catching up with the
    /// store at once and then as the follower would; refuses after [`REVISION_WAIT`].
    /// How a client that wrote through another server reads its own write here.
    pub async fn wait_for_revision(
        &self,
        handle: &WorkspaceHandle,
        id: Id,
        revision: Revision,
    ) -> Result<(), RuntimeError> {
        let deadline = tokio::time::Instant::now() + REVISION_WAIT;
        loop {
            if handle.revision() >= revision {
                return Ok(());
            }
            // The store may be slow or gone: the wait is bounded all the same, and ends
            // in the same refusal.
            let missed =
                tokio::time::timeout_at(deadline, self.store.events_after(id, handle.revision()))
                    .await;
            match missed {
                Ok(Ok(missed)) => handle.apply(&missed),
                Ok(Err(error)) => tracing::warn!(%error, "catching up for a read failed; retrying"),
                Err(_) => {}
            }
            if handle.revision() >= revision {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(RuntimeError::RevisionNotReached {
                    wanted: revision,
                    at: handle.revision(),
                });
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Runs an operation as one write: decided against the state current with the store,
    /// committed with its audit entries, applied to the engine before returning. An
    /// operation that changes nothing commits nothing and answers the current revision.
    pub async fn write<T>(
        &self,
        workspace: Id,
        actor: Actor,
        operation: impl FnOnce(&Ctx) -> Result<Outcome<T>, OpError>,
    ) -> Result<(T, Revision), RuntimeError> {
        self.write_with_outbox(workspace, actor, operation, |_| Vec::new())
            .await
    }

    /// Runs an operation as one write, as [`write`](Self::write) does, and queues the
    /// emails `outbox` makes of its answer in the same transaction; the sender is woken
    /// once they are committed.
    pub async fn write_with_outbox<T>(
        &self,
        workspace: Id,
        actor: Actor,
        operation: impl FnOnce(&Ctx) -> Result<Outcome<T>, OpError>,
        outbox: impl FnOnce(&T) -> Vec<OutboxMessage>,
    ) -> Result<(T, Revision), RuntimeError> {
        let handle = self.workspace(workspace).await?;
        let _writer = self.lock_writer(&handle).await?;
        let mut tx = self.store.begin_write(workspace).await?;
        let missed = tx.events_after(handle.revision()).await?;
        handle.apply(&missed);
        let now = roster_model::now();
        let (outcome, changes) = {
            let state = handle.read();
            let outcome = operation(&Ctx {
                state: &state,
                actor,
                now,
            })?;
            // Decided against committed state, so the changes it predicts are exact.
            let changes = state.membership_changes(&outcome.events);
            let role_changes = state.role_changes(&outcome.events);
            (outcome, (changes, role_changes))
        };
        let (changes, role_changes) = changes;
        if outcome.events.is_empty() {
            return Ok((outcome.value, handle.revision()));
        }
        let revision = tx.revision();
        let messages = outbox(&outcome.value);
        tx.commit(Write {
            events: &outcome.events,
            audit: &outcome.audit,
            changes: &changes,
            role_changes: &role_changes,
            outbox: &messages,
            at: now,
        })
        .await?;
        handle.apply(&[(revision, outcome.events)]);
        if !messages.is_empty() {
            self.outbox_ready.notify_one();
        }
        Ok((outcome.value, revision))
    }

    /// Creates a workspace (with its defaults and first admin) and loads it.
    pub async fn create_workspace(
        &self,
        name: &str,
        admin_email: &str,
        actor: Actor,
    ) -> Result<(roster_ops::Bootstrap, String), RuntimeError> {
        let created = self
            .bootstrap(name, admin_email, actor, BootstrapWhen::Always)
            .await?;
        created.ok_or(RuntimeError::WorkspaceNotFound)
    }

    /// Creates a workspace as [`create_workspace`](Self::create_workspace) does, but only
    /// when the store holds none (what `roster serve` does on an empty database);
    /// `None` when one was there, made meanwhile by another server, which is loaded.
    pub async fn create_first_workspace(
        &self,
        name: &str,
        admin_email: &str,
        actor: Actor,
    ) -> Result<Option<(roster_ops::Bootstrap, String)>, RuntimeError> {
        let created = self
            .bootstrap(name, admin_email, actor, BootstrapWhen::StoreEmpty)
            .await?;
        if created.is_none() {
            self.load_all().await?;
        }
        Ok(created)
    }

    async fn bootstrap(
        &self,
        name: &str,
        admin_email: &str,
        actor: Actor,
        when: BootstrapWhen,
    ) -> Result<Option<(roster_ops::Bootstrap, String)>, RuntimeError> {
        let (secret, hash) = crate::secret::new_token();
        let now = roster_model::now();
        let outcome = roster_ops::new_workspace(name, admin_email, hash, actor, now)?;
        let workspace = &outcome.value.workspace;
        let write = first_write(workspace, &outcome.events, &outcome.audit, now);
        let created = match when {
            BootstrapWhen::Always => {
                self.store
                    .create_workspace(workspace, write.as_write())
                    .await?;
                true
            }
            BootstrapWhen::StoreEmpty => {
                self.store
                    .create_first_workspace(workspace, write.as_write())
                    .await?
            }
        };
        if !created {
            return Ok(None);
        }
        self.workspace(workspace.id).await?;
        Ok(Some((outcome.value, secret)))
    }

    /// The workspace and member a token acts for. A token this process has not seen (made
    /// by another process a moment ago) is looked up in the store.
    pub async fn authenticate(
        &self,
        secret: &str,
    ) -> Result<Option<(Arc<WorkspaceHandle>, Id, Id)>, RuntimeError> {
        self.find_token(secret, TokenKind::Api).await
    }

    /// The workspace and SCIM token a SCIM secret stands for, found as API tokens are.
    pub async fn authenticate_scim(
        &self,
        secret: &str,
    ) -> Result<Option<(Arc<WorkspaceHandle>, Id, Id)>, RuntimeError> {
        self.find_token(secret, TokenKind::Scim).await
    }

    /// A live token of a kind: its workspace's engine, the workspace, and what it stands
    /// for (the member an API token acts as; a SCIM token's own id). The workspace is
    /// hinted by `token_index`, else found in the store; the engine always confirms.
    async fn find_token(
        &self,
        secret: &str,
        kind: TokenKind,
    ) -> Result<Option<(Arc<WorkspaceHandle>, Id, Id)>, RuntimeError> {
        if !crate::secret::well_formed(secret) {
            return Ok(None);
        }
        let hash = crate::secret::hash(secret);
        let key = match kind {
            TokenKind::Api => hash.clone(),
            TokenKind::Scim => format!("scim:{hash}"),
        };
        if self.misses.remembers(&key) {
            return Ok(None);
        }
        let hinted = self
            .token_index
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&key)
            .copied();
        let workspace = match hinted {
            Some(ws) => ws,
            None => {
                let found = match kind {
                    TokenKind::Api => self.store.workspace_of_token(&hash).await?,
                    TokenKind::Scim => self.store.workspace_of_scim_token(&hash).await?,
                };
                match found {
                    Some(ws) => ws,
                    None => {
                        self.misses.remember(key);
                        return Ok(None);
                    }
                }
            }
        };
        let handle = self.workspace(workspace).await?;
        let lookup = |handle: &WorkspaceHandle| {
            let state = handle.read();
            match kind {
                TokenKind::Api => state.token_by_hash(&hash).map(|t| t.member_id),
                TokenKind::Scim => state.scim().token_by_hash(&hash).map(|t| t.id),
            }
        };
        let mut found = lookup(&handle);
        if found.is_none() && hinted.is_none() {
            // Made by another process a moment ago: catch up rather than wait for the follower.
            self.catch_up(&handle, workspace).await?;
            found = lookup(&handle);
        }
        let Some(found) = found else {
            self.misses.remember(key);
            return Ok(None);
        };
        if hinted.is_none() {
            self.token_index
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .insert(key, workspace);
        }
        Ok(Some((handle, workspace, found)))
    }

    /// Applies, every [`FOLLOW_INTERVAL`], the revisions other processes committed, and
    /// loads workspaces they created.
    pub async fn follow(self: Arc<Self>) {
        let mut failing_since: Option<Instant> = None;
        loop {
            tokio::time::sleep(FOLLOW_INTERVAL).await;
            match self.follow_once().await {
                Ok(()) => {
                    if let Some(since) = failing_since.take() {
                        tracing::info!(
                            unreachable_for_ms = since.elapsed().as_millis() as u64,
                            "the store answers again; following it"
                        );
                    }
                }
                Err(error) => {
                    // Said once when it starts, then quietly until the store is back.
                    if failing_since.is_none() {
                        tracing::warn!(%error, "following the store failed; retrying");
                        failing_since = Some(Instant::now());
                    } else {
                        tracing::debug!(%error, "following the store failed again");
                    }
                }
            }
        }
    }

    /// One round of [`follow`](Self::follow). A workspace whose engine is stale, or
    /// found ahead of the store, is reloaded from the store.
    pub async fn follow_once(&self) -> Result<(), RuntimeError> {
        for (id, revision) in self.store.workspace_revisions().await? {
            let handle = self.engine(id).await?;
            if handle.is_stale() || handle.revision() > revision {
                self.reload_if_ahead(&handle, id).await?;
            } else if handle.revision() < revision {
                self.catch_up(&handle, id).await?;
            }
        }
        Ok(())
    }

    /// Reloads a workspace's engine from the store when it is stale or, looked at again
    /// with no write of this process in flight, ahead of the store: a state no reader may
    /// see, so the workspace answers `503` until the reload is done.
    async fn reload_if_ahead(&self, handle: &WorkspaceHandle, id: Id) -> Result<(), RuntimeError> {
        let _writer = handle.writer.lock().await;
        let stored = self
            .store
            .workspace_revisions()
            .await?
            .into_iter()
            .find_map(|(other, revision)| (other == id).then_some(revision))
            .ok_or(RuntimeError::WorkspaceNotFound)?;
        if !handle.is_stale() && handle.revision() <= stored {
            return Ok(());
        }
        if !handle.is_stale() {
            tracing::error!(
                workspace = %id,
                engine = handle.revision(),
                store = stored,
                "the engine is ahead of the store; reloading the workspace"
            );
            handle.mark_stale();
        }
        let fresh = build_state(self.store.as_ref(), id).await?;
        let revision = fresh.revision();
        *handle.write_state() = fresh;
        handle
            .stale
            .store(false, std::sync::atomic::Ordering::SeqCst);
        tracing::info!(workspace = %id, revision, "workspace reloaded from the store");
        Ok(())
    }
}

/// How long a token found in no workspace is answered as unknown from memory.
const MISS_TTL: Duration = Duration::from_secs(60);

/// At most this many misses are remembered; past it the expired ones are dropped, and if
/// none has expired, all are (a forgotten miss only costs one more store query).
const MAX_MISSES: usize = 16_384;

/// Token hashes recently found in no workspace (or revoked), each for [`MISS_TTL`].
///
/// Remembering a miss cannot hide a token made later, on this server or another one on
/// the same store: a secret is 256 random bits drawn when the token is made, and only
/// its hash is stored, so no one can present a token's secret before it exists, and a
/// hash that missed is, with certainty short of guessing those bits, never the hash of
/// a token made afterwards. A token revoked stays revoked, so its miss is final too.
#[derive(Default)]
struct Misses {
    seen: std::sync::Mutex<HashMap<String, Instant>>,
}

impl Misses {
    /// Whether `key` missed less than [`MISS_TTL`] ago.
    fn remembers(&self, key: &str) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match seen.get(key) {
            Some(at) if at.elapsed() < MISS_TTL => true,
            Some(_) => {
                seen.remove(key);
                false
            }
            None => false,
        }
    }

    /// Remembers that `key` missed now.
    fn remember(&self, key: String) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_MISSES {
            seen.retain(|_, at| at.elapsed() < MISS_TTL);
            if seen.len() >= MAX_MISSES {
                seen.clear();
            }
        }
        seen.insert(key, Instant::now());
    }
}

/// Builds a workspace's engine from the store: on first use, and again when a commit
/// the engine had already applied fails. Members are filed into the engine in chunks as
/// the store decodes them, so the decoded workspace is never held whole beside the
/// engine being built.
pub(crate) async fn build_state(store: &dyn Store, id: Id) -> Result<WorkspaceState, RuntimeError> {
    let loading = std::time::Instant::now();
    let (mut loader, mut members) = (roster_engine::Loader::default(), 0usize);
    let snapshot = store
        .load_streaming(id, &mut |chunk| {
            members += chunk.len();
            loader.members(&chunk);
        })
        .await?
        .ok_or(RuntimeError::WorkspaceNotFound)?;
    let members_ms = loading.elapsed().as_millis() as u64;
    let state = loader.finish(snapshot)?;
    tracing::info!(workspace = %id, members, members_ms,
        total_ms = loading.elapsed().as_millis() as u64, "workspace loaded");
    Ok(state)
}

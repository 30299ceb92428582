//! Batched writes: many operations committed as one revision in one transaction.
//!
//! A write costs a transaction whatever it holds (about a millisecond of round trips to
//! the store), so a `/Bulk` request of a thousand users, or eight identity-provider
//! clients posting at once, would spend nearly all their time on transactions. A batch
//! decides its operations in order, each against the state the ones before it leave, and
//! commits them together: each operation is still all-or-nothing (one that refuses
//! contributes nothing), and the batch's events commit before any answer is sent.
//!
//! Each operation must see the ones before it, so the engine applies each one's events
//! as it is decided, under the state's write lock, which is held until the commit ends:
//! no reader ever sees a state the store does not hold. If the commit fails, the engine
//! is rebuilt from the store before the lock is released.
//!
//! [`Roster::write_queued`] adds group commit: concurrent writes to one workspace queue,
//! and whoever takes the writer lock commits what is queued in one batch, deciding for
//! at most [`GROUP_DECIDE_BUDGET`] and leaving the rest queued for the next.

use std::sync::Arc;

use roster_model::{Actor, Revision};
use roster_ops::{Ctx, OpError, Outcome};
use roster_store::Write;
use tokio::sync::oneshot;

use crate::runtime::WorkspaceHandle;
use crate::{Roster, RuntimeError};

/// An operation as a batch runs it.
pub type Decide<'a, T> = Box<dyn FnOnce(&Ctx) -> Result<Outcome<T>, OpError> + Send + 'a>;

/// One operation of a batch, with the actor it runs as.
pub type BatchOp<'a, T> = (Actor, Decide<'a, T>);

/// A write waiting in a workspace's queue for the next group commit.
pub struct Queued {
    /// Which write it is, so that a write that gives up waiting can take itself out.
    ticket: u64,
    op: BatchOp<'static, roster_model::Id>,
    done: oneshot::Sender<Result<(roster_model::Id, Revision), RuntimeError>>,
}

impl Roster {
    /// Runs operations as one write, in order; returns each one's answer (or refusal)
    /// and the revision they committed as. Nothing is committed when every operation
    /// refuses or changes nothing.
    pub async fn write_batch<T: Send + 'static>(
        &self,
        workspace: roster_model::Id,
        ops: Vec<BatchOp<'static, T>>,
    ) -> Result<(Vec<Result<T, OpError>>, Revision), RuntimeError> {
        let handle = self.workspace(workspace).await?;
        let _writer = self.lock_writer(&handle).await?;
        let decided = self.commit_batch(&handle, workspace, ops, None).await?;
        Ok((decided.results, decided.revision))
    }

    /// Runs one operation, committed together with whatever other writes to the
    /// workspace are queued at the same moment (group commit). Answers as
    /// [`write`](Roster::write) does.
    ///
    /// A group commit decides queued writes for at most [`GROUP_DECIDE_BUDGET`] (and at
    /// least one write): the engine's write lock is held while they are decided, so a
    /// burst of writes must not hold the workspace for the sum of their costs. The
    /// writes left over stay queued, in order, for the next group commit.
    pub async fn write_queued(
        &self,
        workspace: roster_model::Id,
        actor: Actor,
        op: impl FnOnce(&Ctx) -> Result<Outcome<roster_model::Id>, OpError> + Send + 'static,
    ) -> Result<(roster_model::Id, Revision), RuntimeError> {
        let handle = self.workspace(workspace).await?;
        let (done, mut answer) = oneshot::channel();
        let ticket = handle.queue().ticket();
        handle.queue().push_back(vec![Queued {
            ticket,
            op: (actor, Box::new(op)),
            done,
        }]);
        let give_up = tokio::time::Instant::now() + self.writer_wait();
        loop {
            // Either a batch led by another write commits this one meanwhile, or this
            // write takes the lock and commits what is queued, itself included unless the
            // budget ran out before it. Waiting on the answer too matters: a write whose
            // operation another batch took must not then queue for the lock only to find
            // nothing to do.
            let writer = tokio::select! {
                biased;
                answered = &mut answer => return answered.unwrap_or_else(|_| Err(dropped())),
                writer = handle.writer().lock() => writer,
                () = tokio::time::sleep_until(give_up) => {
                    // Answer 503 only if no batch has taken this write: one that has will
                    // answer it.
                    if handle.queue().remove(ticket) {
                        return Err(RuntimeError::WriterBusy);
                    }
                    return answer.await.unwrap_or_else(|_| Err(dropped()));
                }
            };
            let queued = handle.queue().take();
            if !queued.is_empty() {
                let (ops, waiting): (Vec<_>, Vec<_>) = queued
                    .into_iter()
                    .map(|q| (q.op, (q.ticket, q.done)))
                    .unzip();
                let mut waiting = waiting.into_iter();
                match self
                    .commit_batch(&handle, workspace, ops, Some(GROUP_DECIDE_BUDGET))
                    .await
                {
                    Ok(decided) => {
                        for (result, (_, done)) in decided.results.into_iter().zip(&mut waiting) {
                            let _ = done.send(
                                result
                                    .map(|id| (id, decided.revision))
                                    .map_err(RuntimeError::Op),
                            );
                        }
                        let left: Vec<Queued> = decided
                            .left
                            .into_iter()
                            .zip(waiting)
                            .map(|(op, (ticket, done))| Queued { ticket, op, done })
                            .collect();
                        handle.queue().push_front(left);
                    }
                    Err(error) => {
                        let message = error.to_string();
                        let failed = |message: String| {
                            if error.is_unavailable() {
                                RuntimeError::BatchUnavailable(message)
                            } else {
                                RuntimeError::BatchFailed(message)
                            }
                        };
                        for (_, done) in waiting {
                            let _ = done.send(Err(failed(message.clone())));
                        }
                    }
                }
            }
            drop(writer);
        }
    }

    /// Decides and commits a batch; the caller holds the workspace's writer lock.
    /// With a `budget`, deciding stops once it is spent (after one operation at least)
    /// and the operations not decided are handed back, in order.
    async fn commit_batch<T: Send + 'static>(
        &self,
        handle: &Arc<WorkspaceHandle>,
        workspace: roster_model::Id,
        ops: Vec<BatchOp<'static, T>>,
        budget: Option<std::time::Duration>,
    ) -> Result<Decided<T>, RuntimeError> {
        let mut tx = self.store().begin_write(workspace).await?;
        let missed = tx.events_after(handle.revision()).await?;
        handle.apply_revisions(&missed);
        let revision = tx.revision();
        let runtime = tokio::runtime::Handle::current();
        // The state's write lock is held, on a blocking thread, from the first decision
        // to the end of the commit: see the module's documentation.
        let handle = handle.clone();
        let store = self.store_arc();
        let decided = tokio::task::spawn_blocking(move || {
            let mut state = handle.write_state();
            let now = roster_model::now();
            let mut results = Vec::with_capacity(ops.len());
            let (mut events, mut audit, mut changes, mut role_changes) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let started = std::time::Instant::now();
            let mut ops = ops.into_iter();
            for (actor, op) in ops.by_ref() {
                let decided = op(&Ctx {
                    state: &state,
                    actor,
                    now,
                });
                match decided {
                    Err(refused) => results.push(Err(refused)),
                    Ok(outcome) => {
                        if !outcome.events.is_empty() {
                            changes.extend(state.membership_changes(&outcome.events));
                            role_changes.extend(state.role_changes(&outcome.events));
                            state.apply_part(revision, &outcome.events);
                            events.extend(outcome.events);
                            audit.extend(outcome.audit);
                        }
                        results.push(Ok(outcome.value));
                    }
                }
                if budget.is_some_and(|budget| started.elapsed() >= budget) {
                    break;
                }
            }
            let left: Vec<BatchOp<'static, T>> = ops.collect();
            if events.is_empty() {
                return Ok(Decided {
                    results,
                    revision: state.revision(),
                    left,
                });
            }
            let decided_at = roster_model::now();
            let committed = runtime.block_on(tx.commit(Write {
                events: &events,
                audit: &audit,
                changes: &changes,
                role_changes: &role_changes,
                outbox: &[],
                at: now,
            }));
            tracing::debug!(
                operations = results.len(),
                events = events.len(),
                decide_us = (decided_at - now).whole_microseconds() as i64,
                commit_us = (roster_model::now() - decided_at).whole_microseconds() as i64,
                "batch committed"
            );
            match committed {
                Ok(()) => Ok(Decided {
                    results,
                    revision,
                    left,
                }),
                Err(error) => {
                    // The engine holds events the store refused: rebuild it from the store.
                    match runtime.block_on(crate::runtime::build_state(store.as_ref(), workspace)) {
                        Ok(fresh) => *state = fresh,
                        Err(e) => {
                            // Until the follower has reloaded it, the workspace answers 503
                            // rather than serve what the store refused.
                            handle.mark_stale();
                            tracing::error!(error = %e, "could not rebuild the workspace after a failed batch; it answers 503 until it is reloaded");
                        }
                    }
                    Err(RuntimeError::Store(error))
                }
            }
        })
        .await;
        decided.unwrap_or_else(|e| {
            Err(RuntimeError::BatchFailed(format!(
                "the batch's thread failed: {e}"
            )))
        })
    }
}

/// How long one group commit may spend deciding queued writes while it holds the
/// engine's write lock, before it commits what it decided and leaves the rest queued.
pub const GROUP_DECIDE_BUDGET: std::time::Duration = std::time::Duration::from_millis(50);

/// What a batch decided: each decided operation's answer, the revision they committed
/// as, and the operations a spent budget left undecided.
struct Decided<T> {
    results: Vec<Result<T, OpError>>,
    revision: Revision,
    left: Vec<BatchOp<'static, T>>,
}

fn dropped() -> RuntimeError {
    RuntimeError::BatchFailed("the batch was dropped".into())
}

/// The queue of writes waiting for a workspace's next group commit.
#[derive(Default)]
pub struct Queue(std::sync::Mutex<Vec<Queued>>, std::sync::atomic::AtomicU64);

impl Queue {
    fn ticket(&self) -> u64 {
        self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Takes a write out of the queue; `false` when a batch has taken it already.
    fn remove(&self, ticket: u64) -> bool {
        let mut queue = self.lock();
        let before = queue.len();
        queue.retain(|q| q.ticket != ticket);
        queue.len() != before
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Queued>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn push_back(&self, queued: Vec<Queued>) {
        self.lock().extend(queued);
    }

    /// Puts writes a group commit left undecided back before the ones queued since, so
    /// that they keep their order.
    fn push_front(&self, left: Vec<Queued>) {
        if !left.is_empty() {
            let mut queue = self.lock();
            queue.splice(0..0, left);
        }
    }

    fn take(&self) -> Vec<Queued> {
        std::mem::take(&mut *self.lock())
    }
}

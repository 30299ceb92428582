//! The pool that runs a request's work proportional to a workspace (a scanning SCIM
//! filter, an export, a rule preview) off the async workers.
//!
//! Such work runs on tokio's blocking threads, at most [`size`] at a time: the async
//! workers keep answering `/healthz` and every other workspace, and at least one core
//! is left to them however many scans are asked for at once. A request waiting for a
//! place in the pool holds no lock.
//!
//! The pool is shared fairly between workspaces: one workspace's work takes at most
//! [`share`] places at once, and its further requests wait for a turn of their own
//! workspace ([`Turns`]) before they queue for a place. So a workspace that sends many
//! scans at once queues them behind each other, not ahead of another workspace's: that
//! one waits for a place for as long as the scans already running take, whatever the
//! first sends next.

use std::sync::{Arc, LazyLock};

use tokio::sync::Semaphore;

/// How many requests' heavy work may run at once: one less than the cores, at least one.
pub fn size() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().saturating_sub(1))
        .unwrap_or(1)
        .max(1)
}

/// How many places one workspace may hold at once: half the pool, at least one.
pub fn share() -> usize {
    (size() / 2).max(1)
}

/// One workspace's turns in the pool: at most [`share`] of its requests hold a place or
/// wait for one at a time.
pub struct Turns(Arc<Semaphore>);

impl Default for Turns {
    fn default() -> Self {
        Turns(Arc::new(Semaphore::new(share())))
    }
}

static PLACES: LazyLock<Arc<Semaphore>> = LazyLock::new(|| Arc::new(Semaphore::new(size())));

/// Why work given to the pool did not come back.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The work panicked or the runtime is shutting down.
    #[error("the work stopped before it finished: {0}")]
    Stopped(String),
}

/// Runs `work` on a blocking thread once its workspace has a turn (`turns`) and the
/// pool a place for it.
pub async fn run<T, F>(turns: &Turns, work: F) -> Result<T, PoolError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let turn = turns
        .0
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| PoolError::Stopped(e.to_string()))?;
    let place = PLACES
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| PoolError::Stopped(e.to_string()))?;
    // The place goes with the work: a client that goes away mid-scan drops this future,
    // but the work runs on, and keeps its place until it ends.
    tokio::task::spawn_blocking(move || {
        let _held = (turn, place);
        work()
    })
    .await
    .map_err(|e| PoolError::Stopped(e.to_string()))
}

//! Work spread over the machine's cores: loading a workspace fills its attribute columns
//! this way, and a batch of rules is evaluated this way.

use std::sync::Mutex;

/// How many threads a batch is spread over: one per core.
pub(crate) fn count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `work` on every task, the tasks taken in turn by one thread per core, or on the
/// calling thread alone when there is one core or one task.
pub(crate) fn spread<T: Send>(
    tasks: impl ExactSizeIterator<Item = T> + Send,
    work: impl Fn(T) + Sync,
) {
    let threads = count();
    if threads < 2 || tasks.len() < 2 {
        tasks.for_each(work);
        return;
    }
    let queue = Mutex::new(tasks);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let next = queue.lock().ok().and_then(|mut tasks| tasks.next());
                let Some(task) = next else { break };
                work(task);
            });
        }
    });
}

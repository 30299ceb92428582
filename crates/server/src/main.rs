//! `roster`: see `roster --help`.

use std::process::ExitCode;

/// jemalloc: SCIM and API writes allocate many small JSON values; glibc's allocator spent
/// up to 40% of a `/Bulk` request consolidating them. mimalloc did as well there but made
/// rule evaluation 1.4× slower and peak memory 16% larger (see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // jemalloc returns freed pages to the system only while the process allocates,
    // unless its background threads purge them. Loading a workspace frees gigabytes
    // (the decoded snapshot) just before the server goes quiet; without the threads an
    // idle server kept all of it (4 GiB resident for a million members instead of 1.5).
    if let Err(error) = tikv_jemalloc_ctl::background_thread::write(true) {
        eprintln!("warning: jemalloc background purging is off: {error}");
    }
    roster::cli::main().await
}

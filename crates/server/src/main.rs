//! `roster`: see `roster --help`.

use std::process::ExitCode;

/// jemalloc: SCIM and API writes allocate many small JSON values; glibc's allocator spent
/// up to 40% of a `/Bulk` request consolidating them. mimalloc did as well there but made
/// rule evaluation 1.4× slower and peak memory 16% larger (see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    roster::cli::main().await
}

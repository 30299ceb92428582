//! `roster`: see `roster --help`.

use std::process::ExitCode;

/// mimalloc: SCIM and API writes allocate many small JSON values; glibc's allocator
/// spent up to 40% of a `/Bulk` request consolidating them (see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    roster::cli::main().await
}

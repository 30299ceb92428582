//! `roster`: see `roster --help`.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    roster::cli::main().await
}

//! `roster workspace export` and `import`: JSON lines through files or pipes, with a
//! progress bar when standard error is a terminal. The checks live in
//! `roster_ops::transfer`; this module only reads, writes and reports.

use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::Path;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use roster_model::{Actor, Id};
use roster_ops::transfer::{self, Record};

use crate::Roster;

fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(len),
        if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

/// Writes a workspace's records, one JSON object per line.
pub async fn export(roster: &Roster, workspace: Id, output: Option<&Path>) -> Result<(), String> {
    let handle = roster
        .workspace(workspace)
        .await
        .map_err(|e| e.to_string())?;
    let records = transfer::export(&handle.read());
    let sink: Box<dyn Write> = match output {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut sink = BufWriter::new(sink);
    let bar = progress(records.len() as u64, "exporting");
    for record in &records {
        serde_json::to_writer(&mut sink, record).map_err(|e| e.to_string())?;
        sink.write_all(b"\n").map_err(|e| e.to_string())?;
        bar.inc(1);
    }
    sink.flush().map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    Ok(())
}

/// Reads an export and creates its workspace in one transaction. Answers a one-line JSON
/// summary.
pub async fn import(roster: &Roster, input: Option<&Path>) -> Result<String, String> {
    let (source, len): (Box<dyn BufRead>, u64) = match input {
        Some(path) => {
            let file = std::fs::File::open(path)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            (Box::new(BufReader::new(file)), len)
        }
        None => (Box::new(BufReader::new(std::io::stdin().lock())), 0),
    };
    let bar = progress(len, "reading");
    let mut records = Vec::new();
    for (number, line) in source.lines().enumerate() {
        let line = line.map_err(|e| format!("line {}: {e}", number + 1))?;
        bar.inc(line.len() as u64 + 1);
        if line.trim().is_empty() {
            continue;
        }
        let record: Record =
            serde_json::from_str(&line).map_err(|e| format!("line {}: {e}", number + 1))?;
        records.push(record);
    }
    bar.finish_and_clear();
    let now = roster_model::now();
    let outcome = transfer::import(records, Actor::Cli, now).map_err(|e| e.to_string())?;
    let (workspace, counts) = &outcome.value;
    if roster.workspace(workspace.id).await.is_ok() {
        return Err(format!(
            "workspace {} already exists in this database",
            workspace.id
        ));
    }
    roster
        .store()
        .create_workspace(
            workspace,
            crate::runtime::first_write(workspace, &outcome.events, &outcome.audit, now).as_write(),
        )
        .await
        .map_err(|e| format!("the import was not written: {e}"))?;
    Ok(serde_json::json!({
        "workspace_id": workspace.id,
        "name": workspace.name,
        "properties": counts.properties,
        "groups": counts.groups,
        "members": counts.members,
        "memberships": counts.memberships,
        "roles": counts.roles,
        "assignments": counts.assignments,
        "scim_resources": counts.scim_resources,
    })
    .to_string())
}

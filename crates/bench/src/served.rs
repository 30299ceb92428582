//! The figures that need the whole server: the generated workspace is written to a
//! SQLite database, a server is started on it (timed until every membership is built),
//! and members are changed over HTTP on a keep-alive connection.
//!
//! The workspace goes straight into the store as events, in batches, without change-log
//! rows: an import of that size through the API would record one change per initial
//! membership (billions here), which is a cost of the import, not of starting or
//! writing. Every later write goes through the normal path.

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::Rng;
use roster::runtime::Roster;
use roster_model::{Actor, Event, Id};
use roster_store::Write;

use crate::generate;

/// What the served run measured.
pub struct Served {
    /// Writing the workspace into SQLite (not a target; printed for context).
    pub fill: Duration,
    /// From opening the database to every membership built.
    pub start: Duration,
    /// `PATCH /api/v1/members/{id}` round trips, sorted.
    pub patches: Vec<Duration>,
    /// The database's size on disk.
    pub bytes: u64,
}

async fn commit(roster: &Roster, workspace: Id, events: &[Event]) -> Result<(), Box<dyn Error>> {
    let tx = roster.store().begin_write(workspace).await?;
    tx.commit(Write {
        events,
        audit: &[],
        changes: &[],
        role_changes: &[],
        outbox: &[],
        at: roster_model::now(),
    })
    .await?;
    Ok(())
}

/// A generated workspace written into a fresh SQLite database.
pub struct Filled {
    /// The database's URL.
    pub url: String,
    /// The folder holding it, removed by [`Filled::remove`].
    pub dir: std::path::PathBuf,
    /// The workspace.
    pub workspace: Id,
    /// The bootstrap admin's id and token.
    pub admin: (Id, String),
    /// The members' ids, in the order generated.
    pub ids: Vec<Id>,
    /// How long writing took.
    pub fill: Duration,
}

impl Filled {
    /// The database's size on disk.
    pub fn bytes(&self) -> u64 {
        std::fs::metadata(self.dir.join("bench.db")).map_or(0, |m| m.len())
            + std::fs::metadata(self.dir.join("bench.db-wal")).map_or(0, |m| m.len())
    }

    /// Deletes the database.
    pub fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Writes the generated workspace (`members` members and `groups`, the events of the
/// dynamic groups) into a fresh SQLite database, then the events `more` makes from the
/// members' ids.
pub async fn fill(
    rng: &mut StdRng,
    members: u32,
    groups: &[Event],
    more: impl FnOnce(&mut StdRng, &[Id]) -> Vec<Event>,
) -> Result<Filled, Box<dyn Error>> {
    let dir = std::env::temp_dir().join(format!("roster-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let filling = Instant::now();
    let roster = Roster::open(&url).await?;
    let (bootstrap, secret) = roster
        .create_workspace("bench", "admin@bench.example", Actor::Cli)
        .await?;
    let workspace = bootstrap.workspace.id;
    let properties = generate::property_events();
    commit(&roster, workspace, &properties).await?;
    let mut ids = Vec::with_capacity(members as usize);
    let mut batch = Vec::with_capacity(20_000);
    for i in 0..members {
        let member = generate::member(rng, i);
        ids.push(member.id);
        batch.push(Event::MemberUpserted { member });
        if batch.len() == 20_000 || i + 1 == members {
            commit(&roster, workspace, &batch).await?;
            batch.clear();
        }
    }
    for chunk in groups.chunks(1_000) {
        commit(&roster, workspace, chunk).await?;
    }
    for chunk in more(rng, &ids).chunks(20_000) {
        commit(&roster, workspace, chunk).await?;
    }
    drop(roster);
    Ok(Filled {
        url,
        dir,
        workspace,
        admin: (bootstrap.admin.id, secret),
        ids,
        fill: filling.elapsed(),
    })
}

/// Opens the database and builds every workspace's engine, timed; then serves HTTP on
/// a loopback port.
pub async fn start(
    url: &str,
) -> Result<(Arc<Roster>, Duration, std::net::SocketAddr), Box<dyn Error>> {
    let starting = Instant::now();
    let roster: Arc<Roster> = Roster::open(url).await?;
    roster.load_all().await?;
    let start = starting.elapsed();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let app = roster::http::router(roster.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((roster, start, address))
}

/// Runs the served figures over the same generated workspace as the engine figures.
pub async fn run(
    rng: &mut StdRng,
    members: u32,
    rules: &[String],
    patches: u32,
    keep: bool,
) -> Result<Served, Box<dyn Error>> {
    let groups = generate::group_events(rules);
    let filled = fill(rng, members, &groups, |_, _| Vec::new()).await?;
    let (roster, start, address) = start(&filled.url).await?;
    let handle = roster.workspace(filled.workspace).await?;
    let (ids, secret) = (&filled.ids, &filled.admin.1);
    let client = reqwest::Client::new();
    let mut times = Vec::with_capacity(patches as usize);
    for _ in 0..patches {
        let id = ids[rng.gen_range(0..ids.len())];
        let Some(current) = handle.read().member(&id) else {
            continue;
        };
        let changed = generate::change(rng, &current);
        let Some((name, value)) = changed
            .properties
            .iter()
            .find(|(n, v)| current.properties.get(*n) != Some(*v))
            .map(|(n, v)| (n.clone(), v.clone()))
        else {
            continue;
        };
        let body = serde_json::json!({ "properties": { name: value } });
        let sent = Instant::now();
        let response = client
            .patch(format!("http://{address}/api/v1/members/{id}"))
            .bearer_auth(secret)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let _ = response.bytes().await?;
        times.push(sent.elapsed());
        if !status.is_success() {
            return Err(format!("PATCH answered {status}").into());
        }
    }
    times.sort();
    let bytes = filled.bytes();
    drop(handle);
    drop(roster);
    if keep {
        eprintln!("kept the database: {}", filled.url);
    } else {
        filled.remove();
    }
    Ok(Served {
        fill: filled.fill,
        start,
        patches: times,
        bytes,
    })
}

//! The API when the network to PostgreSQL fails, through a fault-injecting proxy: writes
//! fail within the store's deadlines with `503`, reads the engine answers go on, and
//! everything recovers by itself once the network is back.

use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::Connection;

use crate::kit::Server;
use crate::support::proxy::Fault;

/// With the store cut off, a write is `503` with `Retry-After` within the deadlines and
/// changes nothing, a read the engine answers is `200`, a read waiting for a revision is
/// `409` after 2 s; once the network is back, writes succeed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_cut_off_fails_writes_fast_and_recovers() {
    let Some((s, proxy)) = Server::behind_a_proxy("store_cut_off").await else {
        return;
    };
    let t = s.admin_token.clone();
    let before = s
        .post(
            "/api/v1/members",
            &t,
            json!({"kind": "user", "email": "before@acme.test"}),
        )
        .await
        .expect(201);
    let revision = before.body["revision"].as_i64().unwrap();

    proxy.set(Fault::Cut);
    let started = Instant::now();
    let refused = s
        .post(
            "/api/v1/members",
            &t,
            json!({"kind": "user", "email": "cut@acme.test"}),
        )
        .await
        .expect(503);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(refused.headers.get("retry-after").is_some());
    let read = s.get("/api/v1/members?limit=100", &t).await.expect(200);
    assert!(read.body.to_string().contains("before@acme.test"));
    let started = Instant::now();
    s.get_with(
        "/api/v1/members?limit=1",
        &t,
        ("roster-at-least-revision", &(revision + 1).to_string()),
    )
    .await
    .expect(409);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    proxy.set(Fault::None);
    s.post(
        "/api/v1/members",
        &t,
        json!({"kind": "user", "email": "after@acme.test"}),
    )
    .await
    .expect(201);
    let stored = s.stored_members().await;
    assert_eq!(s.served_members().await, Some(stored));
}

/// A server that freezes mid-write while it holds its workspace's row lock (its network
/// to the store stalled) holds up another server's writes for at most the lock deadline
/// each (`503`), and for no longer than PostgreSQL's idle-transaction deadline in all: the
/// database then ends the frozen transaction and the other server writes again. The
/// frozen write is never committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_server_holding_the_lock_stalls_the_others_only_within_the_deadlines() {
    let Some((s, proxy)) = Server::behind_a_proxy("frozen_holder").await else {
        return;
    };
    let other = roster::Roster::open_with(
        &s.db.url,
        roster_store::Deadlines {
            lock: Duration::from_secs(1),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    other.load_all().await.unwrap();
    let workspace: roster_model::Id = s.workspace.parse().unwrap();
    let admin = roster_model::Actor::Member {
        id: s.admin.parse().unwrap(),
    };
    let create = |email: &'static str| {
        move |ctx: &roster_ops::Ctx| {
            let input = serde_json::from_value(json!({"kind": "user", "email": email})).unwrap();
            roster_ops::members::create(ctx, input)
        }
    };

    // The proxied server starts a write; once it has updated the workspace's row, its
    // network stalls.
    proxy.set(Fault::Delay(Duration::from_millis(50)));
    let frozen = {
        let (client, base, token) = (s.client.clone(), s.base.clone(), s.admin_token.clone());
        tokio::spawn(async move {
            client
                .post(format!("{base}/api/v1/members"))
                .bearer_auth(token)
                .json(&json!({"kind": "user", "email": "frozen@acme.test"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    let mut watcher = sqlx::PgConnection::connect(&s.db.url).await.unwrap();
    let holding = Instant::now() + Duration::from_secs(10);
    loop {
        // The write has updated the workspace's row once its transaction has an id (a
        // transaction gets one at its first change); only this test's database counts,
        // since other tests share the cluster.
        let (writers,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock' \
             AND a.datname = current_database() AND l.pid <> pg_backend_pid()",
        )
        .fetch_one(&mut watcher)
        .await
        .unwrap();
        if writers > 0 {
            break;
        }
        assert!(
            Instant::now() < holding,
            "the proxied write never took its lock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    proxy.set(Fault::Stall);
    let stalled_at = Instant::now();

    let started = Instant::now();
    let refused = other
        .write(workspace, admin, create("blocked@acme.test"))
        .await
        .expect_err("the row is held");
    assert!(refused.is_unavailable(), "{refused}");
    assert!(
        started.elapsed() < Duration::from_millis(2_500),
        "{:?}",
        started.elapsed()
    );

    let resumed = Instant::now() + Duration::from_secs(8);
    loop {
        match other
            .write(workspace, admin, create("resumed@acme.test"))
            .await
        {
            Ok(_) => break,
            Err(error) => {
                assert!(error.is_unavailable(), "{error}");
                assert!(Instant::now() < resumed, "writes did not resume");
            }
        }
    }
    let held_for = stalled_at.elapsed();
    eprintln!("the frozen server held the others for {held_for:?}");
    assert!(held_for < Duration::from_secs(5), "{held_for:?}");

    proxy.set(Fault::None);
    assert_eq!(
        frozen.await.unwrap(),
        503,
        "the frozen write was not committed"
    );
    let emails = s
        .get("/api/v1/members?limit=100", &s.admin_token)
        .await
        .expect(200);
    assert!(!emails.body.to_string().contains("frozen@acme.test"));
}

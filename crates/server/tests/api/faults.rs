//! The API when the network to PostgreSQL fails, through a fault-injecting proxy: writes
//! fail within the store's deadlines with `503`, reads the engine answers go on, and
//! everything recovers by itself once the network is back.

use std::time::{Duration, Instant};

use serde_json::json;

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

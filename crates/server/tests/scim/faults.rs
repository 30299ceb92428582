//! SCIM provisioning when the network to PostgreSQL fails, through a fault-injecting
//! proxy: no server ever serves what the store lacks, and it recovers by itself once the
//! network is back.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::{Scim, USER};
use crate::kit::Server;
use crate::support::proxy::Fault;

/// A `/Bulk` whose network to the store is cut while it commits (each packet delayed so
/// that the cut falls inside the transaction) is answered `503` or, had it committed,
/// `200`, never `500`; meanwhile the server never lists a member the store lacks (it
/// answers `503` while it cannot tell), and once the network is back it serves exactly
/// what the store holds, by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_cut_mid_commit_is_never_served_from_the_engine() {
    let Some((s, proxy)) = Server::behind_a_proxy("bulk_cut_mid_commit").await else {
        return;
    };
    let scim = Scim::new(&s).await;
    let operations: Vec<Value> = (0..200)
        .map(|i| {
            json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"),
                   "data": {"schemas": [USER], "userName": format!("bulk{i}@acme.test")}})
        })
        .collect();
    proxy.set(Fault::Delay(Duration::from_millis(40)));
    let started = Instant::now();
    let bulk = async {
        let answer = scim.post("/Bulk", json!({"Operations": operations})).await;
        eprintln!("the /Bulk answered after {:?}", started.elapsed());
        answer
    };
    let cut = async {
        // About a second in: past the decisions (applied to the engine as they are
        // made), inside the inserts of the commit.
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        proxy.set(Fault::Cut);
    };
    let (answer, ()) = tokio::join!(bulk, cut);
    let status = answer.status.as_u16();
    assert!(status == 503 || status == 200, "{status}: {}", answer.body);
    eprintln!("the cut /Bulk answered {status}");

    let stored = s.stored_members().await;
    let mut refused = 0;
    for _ in 0..5 {
        match s.served_members().await {
            Some(served) => assert!(
                served.is_subset(&stored),
                "the server lists {} members the store lacks",
                served.difference(&stored).count()
            ),
            None => refused += 1,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("{refused} of 5 reads during the cut answered 503");

    proxy.set(Fault::None);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(served) = s.served_members().await {
            if served == s.stored_members().await {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the server did not come back to the store's members"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let next = scim
        .post(
            "/Users",
            json!({"schemas": [USER], "userName": "next@acme.test"}),
        )
        .await;
    assert_eq!(next.status.as_u16(), 201, "{}", next.body);
}

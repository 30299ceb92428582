//! The connection layer at its cap: what is shed to make room.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Backend, TestDb};

/// At the connection cap with every connection in flight, a connection whose request
/// body trickles in (a byte a second, as a slow-body flood sends it, here with no token
/// at all) is shed to make room: `/healthz` keeps answering `200`, not `503`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_uploads_are_shed_at_the_cap() {
    let Some(db) = TestDb::new(Backend::Sqlite, "trickling_uploads").await else {
        return;
    };
    let roster = roster::Roster::open(&db.url).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = roster::http::router_full(
        roster,
        Default::default(),
        roster::throttle::AuthThrottle::new(1_000_000),
    );
    let limits = roster::listen::Limits {
        max_connections: 8,
        ..Default::default()
    };
    let server = tokio::spawn(roster::listen::serve(
        listener,
        app,
        limits,
        std::future::pending(),
    ));
    let mut uploads = Vec::new();
    for _ in 0..8 {
        uploads.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let head = "POST /api/v1/invitations/accept HTTP/1.1\r\nhost: x\r\n\
                        content-type: application/json\r\ncontent-length: 100000\r\n\r\n";
            stream.write_all(head.as_bytes()).await.unwrap();
            for _ in 0..20 {
                if stream.write_all(b" ").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    for _ in 0..3 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer))
            .await
            .expect("an answer")
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    for upload in uploads {
        upload.abort();
    }
    server.abort();
}

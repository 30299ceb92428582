//! Inputs that look like something they are not, and answers that must not outlive the
//! request: confusable and non-normalised emails, names that hide or reorder their
//! text, errors that name the value at fault and the real limit, and no answer kept by a
//! cache.

use reqwest::Method;
use serde_json::json;

use crate::kit::Server;
use crate::support::TestDb;

crate::on_both_stores!(
    ambiguous_requests_are_refused,
    emails_are_normalised_and_mixed_scripts_refused,
    names_that_hide_or_reorder_text_are_refused,
    errors_name_the_value_at_fault_and_the_real_limit,
    no_answer_is_kept_by_a_cache,
);

async fn emails_are_normalised_and_mixed_scripts_refused(db: TestDb) {
    let s = Server::start(db).await;
    let t = &s.admin_token;
    // A full-width letter is the same address once normalised (NFKC): stored plain, and
    // a duplicate of the plain spelling.
    let created = s
        .post(
            "/api/v1/members",
            t,
            json!({"kind": "user", "email": "\u{ff41}lice@acme.test"}),
        )
        .await
        .expect(201);
    assert_eq!(created.body["email"], json!("alice@acme.test"));
    s.post(
        "/api/v1/members",
        t,
        json!({"kind": "user", "email": "alice@acme.test"}),
    )
    .await
    .expect(409);
    // A domain in Punycode is the same address as its Unicode spelling, stored in the
    // latter.
    let created = s
        .post(
            "/api/v1/members",
            t,
            json!({"kind": "user", "email": "admin@xn--80akhbyknj4f.com"}),
        )
        .await
        .expect(201);
    assert_eq!(created.body["email"], json!("admin@испытание.com"));
    s.post(
        "/api/v1/members",
        t,
        json!({"kind": "user", "email": "admin@испытание.com"}),
    )
    .await
    .expect(409);
    // An empty domain label, and a megabyte of a bad address, refused; the refusal
    // quotes no more than a hundred characters of it.
    for email in ["admin@example..com".to_owned(), "x".repeat(1_000_000)] {
        let refused = s
            .post(
                "/api/v1/members",
                t,
                json!({"kind": "user", "email": email}),
            )
            .await
            .expect(422);
        assert!(refused.body["detail"].as_str().unwrap().len() < 400);
    }
    // A Cyrillic `а` among Latin letters, in the local part or the domain (spelt in
    // Unicode or in Punycode): refused, and the refusal says why.
    for email in [
        "\u{430}dmin@acme.test",
        "admin@\u{430}cme.test",
        "admin@xn--exmple-4nf.com",
    ] {
        let refused = s
            .post(
                "/api/v1/members",
                t,
                json!({"kind": "user", "email": email}),
            )
            .await
            .expect(422);
        assert_eq!(refused.body["field"], json!("email"));
        assert!(
            refused.body["detail"]
                .as_str()
                .unwrap()
                .contains("mixes scripts"),
            "{}",
            refused.body
        );
    }
    // One script throughout is an address like any other.
    s.post(
        "/api/v1/members",
        t,
        json!({"kind": "user", "email": "\u{43f}\u{440}\u{438}\u{43c}\u{435}\u{440}@\u{43f}\u{440}\u{438}\u{43c}\u{435}\u{440}.\u{440}\u{444}"}),
    )
    .await
    .expect(201);
    // Invitations refuse them too, naming the entry.
    let refused = s
        .post(
            "/api/v1/invitations",
            t,
            json!({"emails": ["ok@acme.test", "b\u{43e}b@acme.test"]}),
        )
        .await
        .expect(422);
    assert!(refused.body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("mixes scripts"));
    assert_eq!(refused.body["errors"][0]["index"], json!(1));
}

async fn names_that_hide_or_reorder_text_are_refused(db: TestDb) {
    let s = Server::start(db).await;
    let t = &s.admin_token;
    for (name, says) in [
        ("Ada\u{202e}ecalevol", "bidirectional"),
        ("\u{2066}Ada\u{2069}", "bidirectional"),
        ("\u{200b}\u{200b}", "visible"),
        ("\u{3164}", "visible"),
        ("Admins\u{200b}", "invisible character U+200B"),
        ("Ad\u{200d}mins", "invisible character U+200D"),
        ("\u{410}dmins", "mixes scripts"),
    ] {
        let refused = s
            .post(
                "/api/v1/members",
                t,
                json!({"kind": "user", "email": "x@acme.test", "display_name": name}),
            )
            .await
            .expect(422);
        assert_eq!(refused.body["field"], json!("display_name"));
        assert!(
            refused.body["detail"].as_str().unwrap().contains(says),
            "{name:?}: {}",
            refused.body
        );
        // Group names are names too.
        s.post("/api/v1/groups", t, json!({"name": name}))
            .await
            .expect(422);
    }
    // A compatibility form is the name it stands for: a full-width `Ａdmins` is Admins.
    s.post("/api/v1/groups", t, json!({"name": "\u{ff21}dmins"}))
        .await
        .expect(409);
    // Joiners between the letters that need them are fine (an emoji sequence, Persian).
    for name in [
        "\u{1F469}\u{200D}\u{1F4BB} Devs",
        "\u{645}\u{6cc}\u{200c}\u{62e}\u{648}\u{627}\u{647}\u{645}",
    ] {
        s.post("/api/v1/groups", t, json!({"name": name}))
            .await
            .expect(201);
    }
    // Right-to-left text itself is fine.
    s.post(
        "/api/v1/members",
        t,
        json!({"kind": "user", "email": "x@acme.test", "display_name": "\u{5e9}\u{5dc}\u{5d5}\u{5dd}"}),
    )
    .await
    .expect(201);
}

async fn errors_name_the_value_at_fault_and_the_real_limit(db: TestDb) {
    let s = Server::start(db).await;
    let t = &s.admin_token;
    let (scim, _) = s.scim_token().await;
    // A value of the wrong type deep in a batch names its place.
    let refused = s
        .post(
            "/api/v1/access/check",
            t,
            json!({"checks": [
                {"member_id": s.admin, "privilege": "read", "object_type": "ticket"},
                {"member_id": s.admin, "privilege": 5, "object_type": "ticket"},
            ]}),
        )
        .await
        .expect(422);
    assert_eq!(refused.body["field"], json!("checks[1].privilege"));
    assert!(refused.body["detail"]
        .as_str()
        .unwrap()
        .starts_with("`checks[1].privilege`"));
    let refused = s
        .post(
            "/api/v1/access/check",
            t,
            json!({"checks": [{"member_id": s.admin, "privilege": "read", "object_type": "ticket", "why": 1}]}),
        )
        .await
        .expect(400);
    assert_eq!(refused.body["field"], json!("checks[0].why"));
    let refused = s
        .post("/api/v1/groups", t, json!({"name": ["Ops"]}))
        .await
        .expect(422);
    assert_eq!(refused.body["field"], json!("name"));
    // A body over a route's limit is refused with that route's limit: 4 MiB for batch
    // checks, 1 MiB elsewhere.
    for (path, limit, size) in [
        ("/api/v1/access/check", "4 MiB", 5 * 1024 * 1024),
        ("/api/v1/groups", "1 MiB", 2 * 1024 * 1024),
    ] {
        let body = format!("{{\"name\": \"{}\"}}", "x".repeat(size));
        let answer = s.raw(Method::POST, path, t, body.into_bytes()).await;
        let answer = answer.expect(413);
        assert!(
            answer.body["detail"].as_str().unwrap().contains(limit),
            "{path}: {}",
            answer.body
        );
    }
    // A body declared over the limit is refused when its head arrives, before the
    // client sends it (here it never does), on both APIs.
    for (path, token) in [("/api/v1/groups", t.clone()), ("/scim/v2/Users", scim)] {
        let started = std::time::Instant::now();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n\
             content-type: application/json\r\ncontent-length: 2000000\r\n\r\n{{"
        );
        let answer = raw_exchange(&s.base, head.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{path}: {answer}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{path}: answered after {:?}",
            started.elapsed()
        );
    }
}

/// A request framed twice (`Transfer-Encoding` and `Content-Length`) is refused and its
/// connection closed; a cursor the server never gave (a negative position) is `400`.
async fn ambiguous_requests_are_refused(db: TestDb) {
    let s = Server::start(db).await;
    let head = format!(
        "POST /api/v1/groups HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ntransfer-encoding: chunked\r\ncontent-length: 4\r\n\r\n\
         0\r\n\r\n",
        s.admin_token
    );
    let answer = raw_exchange(&s.base, head.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    for path in [
        "/api/v1/changes?cursor=LTE6LTE",
        "/api/v1/audit?cursor=LTE6LTE",
    ] {
        s.get(path, &s.admin_token).await.expect(400);
    }
}

/// Sends raw bytes on a new connection and reads the answer's first bytes.
async fn raw_exchange(base: &str, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket.write_all(request).await.unwrap();
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), socket.read(&mut answer))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

async fn no_answer_is_kept_by_a_cache(db: TestDb) {
    let s = Server::start(db).await;
    let t = &s.admin_token;
    let answers = [
        s.post("/api/v1/tokens", t, json!({"name": "laptop"})).await,
        s.post("/api/v1/scim/tokens", t, json!({"name": "IdP"}))
            .await,
        s.post(
            "/api/v1/invitations",
            t,
            json!({"emails": ["someone@acme.test"]}),
        )
        .await,
        s.get("/api/v1/members", t).await,
        s.call(Method::GET, "/api/v1/members", None, None).await,
        s.call(Method::GET, "/scim/v2/Users", None, None).await,
    ];
    for answer in answers {
        assert_eq!(
            answer.headers["cache-control"], "no-store",
            "{}",
            answer.body
        );
        assert_eq!(answer.headers["x-content-type-options"], "nosniff");
    }
}

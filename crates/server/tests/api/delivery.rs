//! Invitation emails over real SMTP: a mail server started by the test
//! (`mailin-embedded`) receives what Roster sends through `lettre`; failures are retried
//! with back-off and shown on the invitation; a committed invitation is sent exactly once
//! across a restart; a revoked one is never sent.

use std::time::Duration;

use reqwest::Method;
use roster::mail::sender::Mailer;
use roster::mail::InviteSettings;
use serde_json::{json, Value};

use crate::invitations::result_id;
use crate::kit::Server;
use crate::on_both_stores;
use crate::support::smtp::{free_port, smtp_server};
use crate::support::TestDb;

on_both_stores!(
    the_invitation_email_is_sent_and_its_link_accepts,
    a_committed_invitation_is_sent_once_across_a_restart,
    a_revoked_invitation_is_never_sent,
);

fn settings(per_hour: u32) -> InviteSettings {
    InviteSettings {
        public_url: "https://roster.example.test/".into(),
        per_hour,
        by_mail: true,
    }
}

fn mailer(port: u16) -> Mailer {
    Mailer::new(
        &format!("smtp://127.0.0.1:{port}"),
        "Roster <roster@example.test>",
    )
    .expect("mailer")
}

/// Polls `probe` every 100 ms until it is `Some`, for at most 30 s.
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..300 {
        if let Some(value) = probe().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn invitation(s: &Server, id: &str) -> Value {
    s.get(&format!("/api/v1/invitations/{id}"), &s.admin_token)
        .await
        .expect(200)
        .body
}

async fn delivery_state(s: &Server, id: &str, state: &str) -> Value {
    eventually(&format!("delivery {state}"), || async {
        let shown = invitation(s, id).await;
        (shown["delivery"]["state"] == state).then_some(shown)
    })
    .await
}

/// The accept token in a received message.
fn token_in(message: &str) -> String {
    let start = message
        .find("token=")
        .unwrap_or_else(|| panic!("no link in {message}"))
        + "token=".len();
    message[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}

async fn the_invitation_email_is_sent_and_its_link_accepts(db: TestDb) {
    let port = free_port();
    let inbox = smtp_server(port);
    let s = Server::start_with(db, settings(100), Some(mailer(port))).await;
    let answer = s
        .post(
            "/api/v1/invitations",
            &s.admin_token,
            json!({"emails": ["ada@example.test"]}),
        )
        .await
        .expect(201);
    let result = &answer.body["results"][0];
    assert!(
        result.get("link").is_none(),
        "with mail, the link goes only by mail"
    );
    assert_eq!(result["invitation"]["delivery"]["state"], "queued");
    let id = result_id(&answer, 0);

    let shown = delivery_state(&s, &id, "sent").await;
    assert_eq!(shown["delivery"]["attempts"], 1);
    assert!(shown["delivery"]["sent_at"].is_string());
    let received = inbox.received();
    assert_eq!(received.len(), 1);
    let (to, message) = &received[0];
    assert_eq!(to, &vec!["ada@example.test".to_owned()]);
    assert!(message.contains("Subject:"), "{message}");
    assert!(message.contains("Acme"), "names the workspace: {message}");
    assert!(
        message.contains("https://roster.example.test/invitations/accept?token="),
        "the link starts with the public URL: {message}"
    );

    let accepted = s
        .call(
            Method::POST,
            "/api/v1/invitations/accept",
            None,
            Some(json!({"token": token_in(message), "display_name": "Ada"})),
        )
        .await
        .expect(201);
    assert_eq!(accepted.body["member"]["email"], "ada@example.test");

    let audit = s
        .get("/api/v1/audit?limit=100", &s.admin_token)
        .await
        .expect(200);
    let delivery = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "invitation.delivery")
        .cloned()
        .expect("the delivery is audited");
    assert_eq!(delivery["actor"]["type"], "system");
    assert_eq!(delivery["after"]["delivery"]["state"], "sent");
}

async fn a_committed_invitation_is_sent_once_across_a_restart(db: TestDb) {
    // The mail server is down when the invitation is committed: the try fails, and the
    // failure shows on the invitation.
    let port = free_port();
    let mut s = Server::start_with(db, settings(100), Some(mailer(port))).await;
    let answer = s
        .post(
            "/api/v1/invitations",
            &s.admin_token,
            json!({"emails": ["grace@example.test"]}),
        )
        .await
        .expect(201);
    let id = result_id(&answer, 0);
    let shown = delivery_state(&s, &id, "retrying").await;
    assert!(shown["delivery"]["attempts"].as_u64().unwrap() >= 1);
    assert!(shown["delivery"]["last_error"].is_string());

    // The server stops before the email went out; the mail server comes up; a new
    // server over the same store sends it, once.
    s.stop();
    let inbox = smtp_server(port);
    s.restart(settings(100), Some(mailer(port))).await;
    delivery_state(&s, &id, "sent").await;
    assert_eq!(inbox.received().len(), 1);

    // Another restart sends nothing again.
    s.restart(settings(100), Some(mailer(port))).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(inbox.received().len(), 1, "sent exactly once");
    let (_, message) = &inbox.received()[0];
    s.call(
        Method::POST,
        "/api/v1/invitations/accept",
        None,
        Some(json!({"token": token_in(message)})),
    )
    .await
    .expect(201);
}

async fn a_revoked_invitation_is_never_sent(db: TestDb) {
    let port = free_port();
    let mut s = Server::start_with(db, settings(100), Some(mailer(port))).await;
    let revoked = s
        .post(
            "/api/v1/invitations",
            &s.admin_token,
            json!({"emails": ["revoked@example.test"]}),
        )
        .await
        .expect(201);
    let revoked = result_id(&revoked, 0);
    delivery_state(&s, &revoked, "retrying").await;
    s.post(
        &format!("/api/v1/invitations/{revoked}/revoke"),
        &s.admin_token,
        json!({}),
    )
    .await
    .expect(200);
    // Resending voids the first message: only the second token's message is sent.
    let resent = s
        .post(
            "/api/v1/invitations",
            &s.admin_token,
            json!({"emails": ["resent@example.test"]}),
        )
        .await
        .expect(201);
    let resent = result_id(&resent, 0);
    s.call(
        Method::POST,
        &format!("/api/v1/invitations/{resent}/resend"),
        Some(&s.admin_token),
        None,
    )
    .await
    .expect(200);
    // Stop only once the sender has settled its attempt at the new message: a sender
    // stopped mid-attempt leaves its claim to run out (five minutes) before another may
    // take the message, longer than this test waits.
    delivery_state(&s, &resent, "retrying").await;

    s.stop();
    let inbox = smtp_server(port);
    s.restart(settings(100), Some(mailer(port))).await;
    delivery_state(&s, &resent, "sent").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let received = inbox.received();
    assert_eq!(
        received.len(),
        1,
        "only the resent invitation's new message"
    );
    assert_eq!(received[0].0, vec!["resent@example.test".to_owned()]);
    assert_eq!(invitation(&s, &revoked).await["state"], "revoked");
}

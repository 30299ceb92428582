//! The background sender: claims due messages from the outbox (any number of servers may
//! run one over the same store), sends each over SMTP, and records the outcome in the
//! outbox and on the invitation.
//!
//! Exactly once in effect: a message is claimed for a lease before it is sent, and marked
//! sent right after (only while that claim holds), so two senders never send it at once.
//! A crash between the mail server's acceptance and the mark leaves it to be sent again
//! after the lease; it carries the same `Message-ID` both times, by which mail systems
//! drop the copy.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use roster_model::{Actor, OutboxMessage};
use roster_ops::invitations::{self, DeliveryReport};
use roster_store::OutboxSettlement;

use crate::{Roster, RuntimeError};

/// Tries per message before it is given up (about 1.5 hours of back-off).
pub const MAX_ATTEMPTS: u32 = 12;

/// How long a claimed message is reserved for the sender that claimed it.
const LEASE: time::Duration = time::Duration::minutes(5);

/// How often the sender looks for due messages when no write woke it: retries, and
/// messages queued by other servers.
const POLL: Duration = Duration::from_secs(1);

/// Messages claimed per round: one, so that a claim never outlives its lease however
/// slow the mail server is (each SMTP step times out after 20 s).
const BATCH: u32 = 1;

/// The SMTP connection and the sender's address.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// A mailer for an SMTP URL (`smtp://host:port`, `smtps://…`, `smtp://…?tls=required`,
    /// with `user:password@` for authentication) sending as `from`.
    pub fn new(smtp_url: &str, from: &str) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|e| format!("invalid SMTP URL `{}`: {e}", crate::redact::url(smtp_url)))?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let from = from
            .parse()
            .map_err(|e| format!("invalid sender address `{from}`: {e}"))?;
        Ok(Mailer { transport, from })
    }
}

/// The wait before try number `attempt + 1`, after `attempt` failures: exponential from
/// one second to an hour, with jitter so that many messages do not retry in step.
pub fn back_off(attempt: u32) -> Duration {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(1))
        .with_max_delay(Duration::from_secs(3600))
        .with_factor(2.0)
        .with_jitter()
        .with_max_times(MAX_ATTEMPTS as usize)
        .build()
        .nth(attempt.saturating_sub(1) as usize)
        .unwrap_or(Duration::from_secs(3600))
}

/// Sends due messages until the process ends.
pub async fn run(roster: Arc<Roster>, mailer: Mailer) {
    loop {
        match deliver_due(&roster, &mailer).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "sending invitation emails failed; retrying"),
        }
        tokio::select! {
            () = roster.outbox_written() => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// One round: claims the due messages and tries each once; returns how many it claimed.
pub async fn deliver_due(roster: &Roster, mailer: &Mailer) -> Result<usize, RuntimeError> {
    let now = roster_model::now();
    let claim = now + LEASE;
    let claimed = roster.store().claim_outbox(now, claim, BATCH).await?;
    let count = claimed.len();
    for message in claimed {
        deliver(roster, mailer, message, claim).await?;
    }
    Ok(count)
}

async fn deliver(
    roster: &Roster,
    mailer: &Mailer,
    message: OutboxMessage,
    claim: roster_model::Timestamp,
) -> Result<(), RuntimeError> {
    let store = roster.store();
    if !still_wanted(roster, &message).await? {
        store
            .settle_outbox(message.id, claim, OutboxSettlement::Cancelled)
            .await?;
        return Ok(());
    }
    let attempts = message.attempts + 1;
    let report = match send(mailer, &message).await {
        Ok(()) => {
            store
                .settle_outbox(
                    message.id,
                    claim,
                    OutboxSettlement::Sent(roster_model::now()),
                )
                .await?;
            tracing::info!(to = %message.to, invitation = %message.invitation_id, "invitation email sent");
            DeliveryReport::Sent
        }
        Err(failure) if failure.permanent || attempts >= MAX_ATTEMPTS => {
            store
                .settle_outbox(message.id, claim, OutboxSettlement::Failed(&failure.error))
                .await?;
            tracing::warn!(to = %message.to, error = %failure.error, attempts, "invitation email given up");
            DeliveryReport::Failed(failure.error)
        }
        Err(failure) => {
            let at = roster_model::now() + back_off(attempts);
            store
                .settle_outbox(
                    message.id,
                    claim,
                    OutboxSettlement::Retry {
                        error: &failure.error,
                        at,
                    },
                )
                .await?;
            tracing::info!(to = %message.to, error = %failure.error, attempts, "invitation email will be retried");
            DeliveryReport::Retrying(failure.error)
        }
    };
    roster
        .write(message.workspace_id, Actor::System, |ctx| {
            invitations::delivered(
                ctx,
                message.invitation_id,
                &message.token_hash,
                attempts,
                report,
            )
        })
        .await?;
    Ok(())
}

/// Whether the message's invitation still waits for this token: not accepted, revoked,
/// resent or expired since it was queued (read after catching up with the store).
async fn still_wanted(roster: &Roster, message: &OutboxMessage) -> Result<bool, RuntimeError> {
    let handle = roster.workspace(message.workspace_id).await?;
    roster.catch_up(&handle, message.workspace_id).await?;
    let state = handle.read();
    Ok(state
        .invitations()
        .get(&message.invitation_id)
        .is_some_and(|i| i.token_hash == message.token_hash && i.is_open(roster_model::now())))
}

struct Failure {
    error: String,
    permanent: bool,
}

async fn send(mailer: &Mailer, message: &OutboxMessage) -> Result<(), Failure> {
    let to: Mailbox = message.to.parse().map_err(|e| Failure {
        error: format!("the address cannot be mailed: {e}"),
        permanent: true,
    })?;
    let email = Message::builder()
        .from(mailer.from.clone())
        .to(to)
        .subject(message.subject.clone())
        .message_id(Some(format!("<{}@roster.invalid>", message.id)))
        .body(message.body.clone())
        .map_err(|e| Failure {
            error: format!("the message cannot be built: {e}"),
            permanent: true,
        })?;
    match mailer.transport.send(email).await {
        Ok(_) => Ok(()),
        Err(e) => Err(Failure {
            permanent: e.is_permanent(),
            error: e.to_string(),
        }),
    }
}

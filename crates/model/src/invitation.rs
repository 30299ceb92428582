use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Id, Timestamp};

/// The state an invitation is stored in. `expired` is never stored: a pending
/// invitation past its expiry reads as expired (see [`Invitation::state_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvitationState {
    /// Waiting for the invitee; accepting it is possible until it expires.
    Pending,
    /// The invitee accepted it; its token is spent.
    Accepted,
    /// Its inviter or an admin withdrew it.
    Revoked,
    /// Pending past its expiry: computed when read, so no clock has to write it.
    Expired,
}

/// How far the invitation's email has got. Written by the sender, never by the request
/// that created the invitation, so an outage of the mail server is visible here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// No mail server is configured: the link was returned to the inviter and logged.
    Manual,
    /// Queued in the outbox, not yet tried.
    Queued,
    /// A try failed; another follows after a back-off.
    Retrying,
    /// The mail server accepted the message.
    Sent,
    /// Every try failed; resending issues a new message.
    Failed,
}

/// Where the invitation's email stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
    /// The state of the current message.
    pub state: DeliveryState,
    /// How many times sending the current message was tried.
    #[serde(default)]
    pub attempts: u32,
    /// The mail server's last refusal or the connection error, when a try failed.
    #[serde(default)]
    pub last_error: Option<String>,
    /// When the mail server accepted the message.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub sent_at: Option<time::OffsetDateTime>,
}

impl Delivery {
    /// A fresh message's delivery: queued when mail is sent, manual when it is not.
    pub fn new(by_mail: bool) -> Self {
        Delivery {
            state: if by_mail {
                DeliveryState::Queued
            } else {
                DeliveryState::Manual
            },
            attempts: 0,
            last_error: None,
            sent_at: None,
        }
    }
}

/// One person invited by email into user groups (SPEC §1 "Invitation"). Only the hash
/// of its secret token is kept; the token itself travels in the link alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invitation {
    /// The invitation's id.
    pub id: Id,
    /// The address invited, as given (compared case-insensitively).
    pub email: String,
    /// The static user groups the invitee joins on accepting.
    pub groups: Vec<Id>,
    /// Who invited; `None` for the command line.
    #[serde(default)]
    pub invited_by: Option<Id>,
    /// Hex SHA-256 of the current secret token.
    pub token_hash: String,
    /// The stored state: pending, accepted or revoked.
    pub state: InvitationState,
    /// The lifetime asked for, in seconds; a resend grants it again.
    pub expires_in: i64,
    /// When the current token stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: Timestamp,
    /// Every time a token was issued (creation and each resend) and by whom: what the
    /// per-member rate limit counts.
    #[serde(default)]
    pub issued: Vec<Issue>,
    /// Where the current token's email stands.
    pub delivery: Delivery,
    /// The member who accepted it.
    #[serde(default)]
    pub accepted_by: Option<Id>,
    /// When it was accepted.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub accepted_at: Option<Timestamp>,
    /// Who revoked it.
    #[serde(default)]
    pub revoked_by: Option<Id>,
    /// When it was revoked.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<Timestamp>,
    /// Changes on every update; served as the ETag.
    pub version: i64,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
}

/// One issue of an invitation token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
    /// By whom; `None` for the command line.
    #[serde(default)]
    pub by: Option<Id>,
}

impl Invitation {
    /// The state as a reader sees it at `now`: a pending invitation past its expiry is
    /// expired.
    pub fn state_at(&self, now: Timestamp) -> InvitationState {
        match self.state {
            InvitationState::Pending if now >= self.expires_at => InvitationState::Expired,
            state => state,
        }
    }

    /// Whether its token can still be accepted at `now`.
    pub fn is_open(&self, now: Timestamp) -> bool {
        self.state_at(now) == InvitationState::Pending
    }

    /// The case-insensitive key of its email.
    pub fn email_key(&self) -> String {
        self.email.to_lowercase()
    }
}

/// An invitation email waiting in the outbox: committed in the same transaction as the
/// invitation it announces, sent by a background sender after the commit. It carries the
/// accept link (the only place the secret token is written) until it is sent or
/// cancelled, when the store wipes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// The message's id; also the stable `Message-ID` that lets a mail server drop a
    /// copy sent again after a crash between sending and recording it.
    pub id: Id,
    /// The workspace.
    pub workspace_id: Id,
    /// The invitation it announces.
    pub invitation_id: Id,
    /// The hash of the token the link carries: a resend makes earlier messages stale.
    pub token_hash: String,
    /// The recipient.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body, with the link.
    pub body: String,
    /// How many tries were made before this one.
    pub attempts: u32,
}

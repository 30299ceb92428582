//! Invitation emails: what they say ([`compose`]), how they are queued with the write
//! that creates them (the outbox), and the background [`sender`] that delivers them over
//! SMTP after the commit, with retries, so that a committed invitation is sent exactly
//! once in effect, even across a restart.

pub mod sender;

use roster_model::{new_id, Id, Invitation, OutboxMessage};
use roster_ops::invitations::Letter;

/// How this server delivers invitations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteSettings {
    /// The address people reach this server at; accept links start with it.
    pub public_url: String,
    /// Invitation tokens one member may issue per hour.
    pub per_hour: u32,
    /// Whether an SMTP server is configured: then emails are queued and links are not
    /// returned to the inviter.
    pub by_mail: bool,
}

impl Default for InviteSettings {
    fn default() -> Self {
        InviteSettings {
            public_url: "http://127.0.0.1:8080".into(),
            per_hour: roster_ops::invitations::DEFAULT_PER_HOUR,
            by_mail: false,
        }
    }
}

impl InviteSettings {
    /// The policy operations apply.
    pub fn policy(&self) -> roster_ops::invitations::Policy {
        roster_ops::invitations::Policy {
            by_mail: self.by_mail,
            per_hour: self.per_hour,
        }
    }

    /// The link that accepts an invitation: a page of this server that asks for a name and
    /// posts the token to `POST /api/v1/invitations/accept`.
    pub fn link(&self, secret: &str) -> String {
        format!(
            "{}/invitations/accept?token={secret}",
            self.public_url.trim_end_matches('/')
        )
    }
}

/// The email announcing an invitation, ready for the outbox.
pub fn compose(
    workspace: Id,
    invitation: &Invitation,
    letter: &Letter,
    link: &str,
) -> OutboxMessage {
    let inviter = letter.inviter.as_deref().unwrap_or("An administrator");
    let subject = format!("{inviter} invited you to {} on Roster", letter.workspace);
    let groups = if letter.groups.is_empty() {
        String::new()
    } else {
        format!(" You will join: {}.", letter.groups.join(", "))
    };
    let expires = invitation
        .expires_at
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default();
    let body = format!(
        "Hello,\n\n{inviter} invited you to the workspace {workspace_name} on Roster.{groups}\n\n\
         Accept the invitation here:\n\n  {link}\n\n\
         The link works once and expires on {expires}. If you did not expect this email, ignore it.\n",
        workspace_name = letter.workspace,
    );
    OutboxMessage {
        id: new_id(),
        workspace_id: workspace,
        invitation_id: invitation.id,
        token_hash: invitation.token_hash.clone(),
        to: invitation.email.clone(),
        subject,
        body,
        attempts: 0,
    }
}

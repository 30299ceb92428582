-- Invitations, and the outbox of invitation emails: a message is committed with the
-- invitation it announces and sent after the commit by a background sender.
CREATE TABLE invitations (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    token_hash    TEXT NOT NULL UNIQUE,
    email_key     TEXT NOT NULL,
    doc           TEXT NOT NULL
);
CREATE INDEX invitations_by_workspace ON invitations (workspace_id);

CREATE TABLE outbox (
    id               TEXT PRIMARY KEY,
    workspace_id     TEXT NOT NULL REFERENCES workspaces(id),
    invitation_id    TEXT NOT NULL REFERENCES invitations(id),
    token_hash       TEXT NOT NULL,
    recipient        TEXT NOT NULL,
    subject          TEXT NOT NULL,
    -- The body holds the accept link, the only copy of the secret token: it is wiped
    -- when the message is sent, given up or cancelled.
    body             TEXT,
    -- pending, sent, failed, cancelled
    state            TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    -- A sender that claimed the message; another may take it once this has passed.
    claimed_until    BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    sent_at          BIGINT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_by_invitation ON outbox (invitation_id);

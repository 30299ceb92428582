-- One schema serves SQLite and PostgreSQL: portable types only (TEXT, BIGINT, INTEGER).
-- Split the folder per backend when a migration needs a dialect of its own.
-- Roster's foundation: workspaces, members, properties, groups, memberships, tokens,
-- the event log every server follows, and the audit log.
CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    revision    BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE members (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    kind          TEXT NOT NULL,
    email_key     TEXT,
    state         TEXT NOT NULL,
    doc           TEXT NOT NULL,
    UNIQUE (workspace_id, email_key)
);

CREATE TABLE properties (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    applies_to    TEXT NOT NULL,
    name          TEXT NOT NULL,
    doc           TEXT NOT NULL,
    UNIQUE (workspace_id, applies_to, name)
);

CREATE TABLE groups (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    name_key      TEXT NOT NULL,
    doc           TEXT NOT NULL,
    UNIQUE (workspace_id, name_key)
);

CREATE TABLE memberships (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    group_id      TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    member_id     TEXT NOT NULL REFERENCES members(id),
    source        TEXT NOT NULL,
    added_by      TEXT,
    added_at      BIGINT NOT NULL,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX memberships_by_workspace ON memberships (workspace_id);

CREATE TABLE tokens (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    member_id     TEXT NOT NULL REFERENCES members(id),
    hash          TEXT NOT NULL UNIQUE,
    doc           TEXT NOT NULL,
    revoked_at    BIGINT
);

CREATE TABLE events (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    revision      BIGINT NOT NULL,
    seq           INTEGER NOT NULL,
    payload       TEXT NOT NULL,
    PRIMARY KEY (workspace_id, revision, seq)
);

CREATE TABLE audit (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    revision      BIGINT NOT NULL,
    seq           INTEGER NOT NULL,
    at            BIGINT NOT NULL,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    target_type   TEXT NOT NULL,
    target_id     TEXT,
    before_doc    TEXT,
    after_doc     TEXT,
    PRIMARY KEY (workspace_id, revision, seq)
);

-- Roles, their assignments to groups, and role assignments in the change log.
CREATE TABLE roles (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    name_key      TEXT NOT NULL,
    doc           TEXT NOT NULL,
    UNIQUE (workspace_id, name_key)
);

CREATE TABLE role_assignments (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    group_id      TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    role_id       TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    doc           TEXT NOT NULL,
    PRIMARY KEY (group_id, role_id)
);
CREATE INDEX role_assignments_by_workspace ON role_assignments (workspace_id);

-- A change-log entry names a member (a change of membership) or a role (a change of
-- role assignment). SQLite cannot drop NOT NULL in place, so the table is rebuilt.
CREATE TABLE changes_v3 (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    revision      BIGINT NOT NULL,
    seq           INTEGER NOT NULL,
    group_id      TEXT NOT NULL,
    member_id     TEXT,
    role_id       TEXT,
    change        TEXT NOT NULL,
    cause         TEXT NOT NULL,
    at            BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, revision, seq)
);
INSERT INTO changes_v3 (workspace_id, revision, seq, group_id, member_id, role_id, change, cause, at)
    SELECT workspace_id, revision, seq, group_id, member_id, NULL, change, cause, at FROM changes;
DROP TABLE changes;
ALTER TABLE changes_v3 RENAME TO changes;

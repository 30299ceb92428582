-- The change log: every change of effective membership, with the revision of the write
-- that made it, written in the same transaction as the write.
CREATE TABLE changes (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    revision      BIGINT NOT NULL,
    seq           INTEGER NOT NULL,
    group_id      TEXT NOT NULL,
    member_id     TEXT NOT NULL,
    change        TEXT NOT NULL,
    cause         TEXT NOT NULL,
    at            BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, revision, seq)
);

-- SCIM provisioning: the identity provider's tokens, the SCIM side of provisioned users
-- and groups, and admins' changes to which properties SCIM attributes fill.
CREATE TABLE scim_tokens (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id),
    hash          TEXT NOT NULL UNIQUE,
    doc           TEXT NOT NULL,
    revoked_at    BIGINT
);
CREATE INDEX scim_tokens_by_workspace ON scim_tokens (workspace_id);

-- id is the member's or the group's id.
CREATE TABLE scim_resources (
    id             TEXT PRIMARY KEY,
    workspace_id   TEXT NOT NULL REFERENCES workspaces(id),
    resource_type  TEXT NOT NULL,
    doc            TEXT NOT NULL
);
CREATE INDEX scim_resources_by_workspace ON scim_resources (workspace_id);

CREATE TABLE scim_mappings (
    workspace_id  TEXT PRIMARY KEY REFERENCES workspaces(id),
    doc           TEXT NOT NULL
);

//! Discovery (RFC 7644 §4): `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`, each
//! true to what this server does. They are read-only: writes answer `405`.

use roster_ops::scim::user_schema;
use roster_scim::schema::{self, LIST_RESPONSE};
use roster_scim::ScimError;
use serde_json::{json, Value};

use super::list::MAX_RESULTS;
use super::wire::{Fail, Reply, ScimAuth, ScimPath, MAX_PAYLOAD};

/// Most operations one `/Bulk` request may hold.
pub const MAX_BULK_OPERATIONS: usize = 1000;

/// `GET /ServiceProviderConfig`.
pub async fn config(auth: ScimAuth) -> Reply {
    Reply::ok(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/roster/roster/blob/main/docs/scim.md",
        "patch": {"supported": true},
        "bulk": {"supported": true, "maxOperations": MAX_BULK_OPERATIONS, "maxPayloadSize": MAX_PAYLOAD},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A SCIM token made with `POST /api/v1/scim/tokens` or `roster scim token create`, sent as `Authorization: Bearer <token>`.",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{}/ServiceProviderConfig", auth.base),
        },
    }))
}

fn resource_types(auth: &ScimAuth) -> Vec<Value> {
    let state = auth.handle.read();
    vec![
        user_schema(&state).to_json(&auth.base),
        schema::group_resource().to_json(&auth.base),
    ]
}

fn schemas(auth: &ScimAuth) -> Vec<Value> {
    let state = auth.handle.read();
    let users = user_schema(&state);
    std::iter::once(&users.core)
        .chain(&users.extensions)
        .chain(std::iter::once(&schema::group_resource().core))
        .map(|s| s.to_json(&auth.base))
        .collect()
}

fn listed(items: Vec<Value>) -> Reply {
    Reply::ok(json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": items.len(),
        "startIndex": 1,
        "itemsPerPage": items.len(),
        "Resources": items,
    }))
}

fn one(items: Vec<Value>, id: &str, what: &str) -> Result<Reply, Fail> {
    items
        .into_iter()
        .find(|item| {
            item.get("id")
                .and_then(Value::as_str)
                .is_some_and(|i| i.eq_ignore_ascii_case(id))
        })
        .map(Reply::ok)
        .ok_or_else(|| Fail(ScimError::not_found(what)))
}

/// `GET /ResourceTypes`.
pub async fn list_resource_types(auth: ScimAuth) -> Reply {
    listed(resource_types(&auth))
}

/// `GET /ResourceTypes/{name}`.
pub async fn resource_type(auth: ScimAuth, ScimPath(name): ScimPath) -> Result<Reply, Fail> {
    one(resource_types(&auth), &name, "resource type")
}

/// `GET /Schemas`.
pub async fn list_schemas(auth: ScimAuth) -> Reply {
    listed(schemas(&auth))
}

/// `GET /Schemas/{urn}`.
pub async fn schema(auth: ScimAuth, ScimPath(id): ScimPath) -> Result<Reply, Fail> {
    one(schemas(&auth), &id, "schema")
}

/// `/Me`: Roster's SCIM tokens stand for an identity provider, not a user, so there is
/// no "me" to serve (RFC 7644 §3.11 allows `501`).
pub async fn me(_auth: ScimAuth) -> Fail {
    Fail(ScimError::status(
        501,
        "/Me is not supported: a SCIM token acts as the identity provider, not as a user",
    ))
}

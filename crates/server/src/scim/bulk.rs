//! `/Bulk` (RFC 7644 §3.7) and the search at the root (§3.4.3).
//!
//! Bulk operations run in order, each as its own write, so each is all-or-nothing and a
//! failed one leaves the others applied, as the RFC describes. `bulkId:` references in a
//! path or anywhere in `data` (a group's `members`, typically) name resources created
//! earlier in the same request. `failOnErrors` stops processing after that many errors.

use std::collections::HashMap;

use axum::http::StatusCode;
use roster_model::Id;
use roster_ops::scim::{groups, users};
use roster_scim::patch;
use roster_scim::schema::{get_ci, BULK_RESPONSE, LIST_RESPONSE};
use roster_scim::{ScimError, ScimType};
use serde_json::{json, Value};

use super::discovery::MAX_BULK_OPERATIONS;
use super::list::ListQuery;
use super::resources::{self, Kind};
use super::wire::{Body, Fail, Reply, ScimAuth};

/// `POST /Bulk`.
pub async fn bulk(auth: ScimAuth, Body(body): Body) -> Result<Reply, Fail> {
    let syntax = |detail: &str| Fail(ScimError::bad(ScimType::InvalidSyntax, detail));
    let object = body
        .as_object()
        .ok_or_else(|| syntax("a bulk request is a JSON object"))?;
    let operations = get_ci(object, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| syntax("a bulk request needs an `Operations` array"))?;
    if operations.len() > MAX_BULK_OPERATIONS {
        return Err(Fail(ScimError {
            status: 413,
            scim_type: Some(ScimType::TooMany),
            detail: format!("a bulk request holds at most {MAX_BULK_OPERATIONS} operations"),
        }));
    }
    let fail_on_errors = match get_ci(object, "failOnErrors") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().filter(|n| *n > 0).ok_or_else(|| {
            Fail(ScimError::bad(
                ScimType::InvalidValue,
                "`failOnErrors` must be a positive integer",
            ))
        })?),
    };
    let mut created: HashMap<String, Id> = HashMap::new();
    let mut results = Vec::with_capacity(operations.len());
    let mut errors = 0u64;
    for operation in operations {
        if fail_on_errors.is_some_and(|limit| errors >= limit) {
            break;
        }
        let result = run(&auth, operation, &mut created).await;
        if result
            .get("status")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.starts_with('2'))
        {
            errors += 1;
        }
        results.push(result);
    }
    Ok(Reply::ok(json!({
        "schemas": [BULK_RESPONSE],
        "Operations": results,
    })))
}

/// One bulk operation and its result entry.
async fn run(auth: &ScimAuth, operation: &Value, created: &mut HashMap<String, Id>) -> Value {
    let text = |key: &str| {
        operation
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let method = text("method").unwrap_or_default().to_ascii_uppercase();
    let bulk_id = text("bulkId");
    let version = text("version");
    let mut entry = json!({"method": method});
    if let Some(id) = &bulk_id {
        entry["bulkId"] = Value::from(id.clone());
    }
    match execute(
        auth,
        &method,
        operation,
        bulk_id.as_deref(),
        version.as_deref(),
        created,
    )
    .await
    {
        Ok((status, body)) => {
            entry["status"] = Value::from(status.as_u16().to_string());
            if let Some(meta) = body.as_ref().and_then(|b| b.get("meta")) {
                if let Some(location) = meta.get("location") {
                    entry["location"] = location.clone();
                }
                if let Some(version) = meta.get("version") {
                    entry["version"] = version.clone();
                }
            }
        }
        Err(Fail(error)) => {
            entry["status"] = Value::from(error.status.to_string());
            entry["response"] = error.to_json();
        }
    }
    entry
}

async fn execute(
    auth: &ScimAuth,
    method: &str,
    operation: &Value,
    bulk_id: Option<&str>,
    version: Option<&str>,
    created: &mut HashMap<String, Id>,
) -> Result<(StatusCode, Option<Value>), Fail> {
    let invalid = |detail: String| Fail(ScimError::bad(ScimType::InvalidValue, detail));
    let path = operation
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("each bulk operation needs a `path`".into()))?;
    let path = resolve_refs(&Value::from(path), created)?;
    let path = path.as_str().unwrap_or_default().to_owned();
    let mut data = match operation.get("data") {
        Some(data) => resolve_refs(data, created)?,
        None => Value::Null,
    };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let kind = match segments.first().map(|s| s.to_ascii_lowercase()).as_deref() {
        Some("users") => Kind::User,
        Some("groups") => Kind::Group,
        _ => return Err(invalid(format!("`{path}` is not /Users or /Groups"))),
    };
    let id = match segments.get(1) {
        Some(raw) => Some(Id::parse_str(raw).map_err(|_| {
            Fail(ScimError::not_found(if kind == Kind::User {
                "user"
            } else {
                "group"
            }))
        })?),
        None => None,
    };
    let version = version.map(str::to_owned);
    match (method, id) {
        ("POST", None) => {
            let bulk_id = bulk_id
                .ok_or_else(|| invalid("a bulk POST needs a `bulkId`".into()))?
                .to_owned();
            if let Value::Object(map) = &mut data {
                map.remove("id");
            }
            let (id, _) = auth
                .handle_write(move |ctx| match kind {
                    Kind::User => users::create(ctx, data),
                    Kind::Group => groups::create(ctx, data),
                })
                .await?;
            created.insert(bulk_id, id);
            Ok((StatusCode::CREATED, Some(resources::current(auth, kind, id))))
        }
        ("PUT", Some(id)) => {
            auth.handle_write(move |ctx| match kind {
                Kind::User => users::replace(ctx, id, data, version.as_deref()),
                Kind::Group => groups::replace(ctx, id, data, version.as_deref()),
            })
            .await?;
            Ok((StatusCode::OK, Some(resources::current(auth, kind, id))))
        }
        ("PATCH", Some(id)) => {
            let operations = patch::operations(&data)?;
            auth.handle_write(move |ctx| match kind {
                Kind::User => users::patch(ctx, id, &operations, version.as_deref()),
                Kind::Group => groups::patch(ctx, id, &operations, version.as_deref()),
            })
            .await?;
            Ok((StatusCode::OK, Some(resources::current(auth, kind, id))))
        }
        ("DELETE", Some(id)) => {
            auth.handle_write(move |ctx| match kind {
                Kind::User => users::delete(ctx, id, version.as_deref()),
                Kind::Group => groups::delete(ctx, id, version.as_deref()),
            })
            .await?;
            Ok((StatusCode::NO_CONTENT, None))
        }
        (method, _) => Err(invalid(format!(
            "`{method} {path}` is not a bulk operation (POST to a collection; PUT, PATCH or DELETE to a resource)"
        ))),
    }
}

/// Replaces every `bulkId:ID` string with the id the operation of that bulkId created.
/// A reference to a bulkId not (yet) created is a `409` (RFC 7644 §3.7.2).
fn resolve_refs(value: &Value, created: &HashMap<String, Id>) -> Result<Value, Fail> {
    Ok(match value {
        Value::String(s) => match s.find("bulkId:") {
            Some(at) => {
                let reference = &s[at + "bulkId:".len()..];
                let (name, rest) = reference
                    .split_once('/')
                    .map_or((reference, ""), |(n, r)| (n, r));
                let id = created.get(name).ok_or_else(|| {
                    Fail(ScimError::status(
                        409,
                        format!(
                            "bulkId `{name}` names no resource created earlier in this request"
                        ),
                    ))
                })?;
                let tail = if rest.is_empty() {
                    String::new()
                } else {
                    format!("/{rest}")
                };
                Value::from(format!("{}{id}{tail}", &s[..at]))
            }
            None => value.clone(),
        },
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| resolve_refs(i, created))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), resolve_refs(v, created)?)))
                .collect::<Result<_, Fail>>()?,
        ),
        other => other.clone(),
    })
}

/// `POST /.search`: users and groups together, users first.
pub async fn search_root(auth: ScimAuth, Body(body): Body) -> Result<Reply, Fail> {
    let query = ListQuery::from_body(&body)?;
    let mut everything = query.clone();
    everything.start_index = 1;
    everything.count = usize::MAX;
    let mut all = Vec::new();
    for kind in [Kind::User, Kind::Group] {
        let found = resources::search_all(&auth, kind, &everything)?;
        all.extend(found);
    }
    let total = all.len();
    let page: Vec<Value> = all
        .into_iter()
        .skip(query.start_index - 1)
        .take(query.count)
        .collect();
    Ok(Reply::ok(json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": query.start_index,
        "itemsPerPage": page.len(),
        "Resources": page,
    })))
}

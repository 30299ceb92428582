//! Listing and searching (RFC 7644 §3.4.2, §3.4.3): `filter`, `sortBy`/`sortOrder`,
//! `startIndex`/`count` and `attributes`/`excludedAttributes`, from a query string or a
//! `POST /.search` body alike.

use std::collections::HashMap;

use roster_model::Id;
use roster_scim::schema::{ResourceSchema, LIST_RESPONSE};
use roster_scim::{eval, project, Filter, ScimError, ScimType};
use serde_json::{json, Value};

/// Most resources one page holds (advertised as `filter.maxResults`).
pub const MAX_RESULTS: usize = 1000;
/// Resources a page holds when `count` is not given.
pub const DEFAULT_COUNT: usize = 100;

/// What a list or search asks for.
#[derive(Debug, Default, Clone)]
pub struct ListQuery {
    /// The filter, parsed.
    pub filter: Option<Filter>,
    /// The attribute to sort by.
    pub sort_by: Option<String>,
    /// Whether to sort descending.
    pub descending: bool,
    /// 1-based index of the first result.
    pub start_index: usize,
    /// How many results at most.
    pub count: usize,
    /// Only these attributes (and those always returned).
    pub attributes: Vec<String>,
    /// All but these.
    pub excluded: Vec<String>,
}

fn invalid(detail: impl Into<String>) -> ScimError {
    ScimError::bad(ScimType::InvalidValue, detail)
}

fn names(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn number(raw: &str, what: &str) -> Result<i64, ScimError> {
    raw.trim()
        .parse()
        .map_err(|_| invalid(format!("`{what}` must be an integer")))
}

impl ListQuery {
    /// From a query string's parameters, named in any case.
    pub fn from_params(params: &HashMap<String, String>) -> Result<Self, ScimError> {
        let get = |key: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str())
        };
        Self::build(
            get("filter"),
            get("sortBy"),
            get("sortOrder"),
            get("startIndex")
                .map(|v| number(v, "startIndex"))
                .transpose()?,
            get("count").map(|v| number(v, "count")).transpose()?,
            get("attributes").map(names).unwrap_or_default(),
            get("excludedAttributes").map(names).unwrap_or_default(),
        )
    }

    /// From a `SearchRequest` body.
    pub fn from_body(body: &Value) -> Result<Self, ScimError> {
        let object = body.as_object().ok_or_else(|| {
            ScimError::bad(ScimType::InvalidSyntax, "a search request is a JSON object")
        })?;
        let get = |key: &str| roster_scim::schema::get_ci(object, key);
        let text = |key: &str| -> Result<Option<&str>, ScimError> {
            match get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(invalid(format!("`{key}` must be a string"))),
            }
        };
        let int = |key: &str| -> Result<Option<i64>, ScimError> {
            match get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => n
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| invalid(format!("`{key}` must be an integer"))),
                Some(Value::String(s)) => number(s, key).map(Some),
                Some(_) => Err(invalid(format!("`{key}` must be an integer"))),
            }
        };
        let list = |key: &str| -> Result<Vec<String>, ScimError> {
            match get(key) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::String(s)) => Ok(names(s)),
                Some(Value::Array(items)) => Ok(items
                    .iter()
                    .filter_map(Value::as_str)
                    .flat_map(names)
                    .collect()),
                Some(_) => Err(invalid(format!(
                    "`{key}` must be a list of attribute names"
                ))),
            }
        };
        Self::build(
            text("filter")?,
            text("sortBy")?,
            text("sortOrder")?,
            int("startIndex")?,
            int("count")?,
            list("attributes")?,
            list("excludedAttributes")?,
        )
    }

    fn build(
        filter: Option<&str>,
        sort_by: Option<&str>,
        sort_order: Option<&str>,
        start_index: Option<i64>,
        count: Option<i64>,
        attributes: Vec<String>,
        excluded: Vec<String>,
    ) -> Result<Self, ScimError> {
        let filter = match filter.map(str::trim).filter(|f| !f.is_empty()) {
            Some(text) => Some(roster_scim::parse(text)?),
            None => None,
        };
        let descending = match sort_order.map(str::to_ascii_lowercase).as_deref() {
            None | Some("ascending") => false,
            Some("descending") => true,
            Some(other) => {
                return Err(invalid(format!(
                    "`sortOrder` is `ascending` or `descending`, not `{other}`"
                )))
            }
        };
        // RFC 7644 §3.4.2.4: a startIndex below 1 is read as 1, a negative count as 0.
        let start_index = usize::try_from(start_index.unwrap_or(1).max(1)).unwrap_or(1);
        let count = match count {
            None => DEFAULT_COUNT,
            Some(c) => usize::try_from(c.max(0)).unwrap_or(0).min(MAX_RESULTS),
        };
        Ok(ListQuery {
            filter,
            sort_by: sort_by.map(str::to_owned),
            descending,
            start_index,
            count,
            attributes,
            excluded,
        })
    }

    /// Whether an attribute may be left out of rendering: neither asked for, filtered
    /// on, nor sorted by.
    pub fn needs(&self, attribute: &str) -> bool {
        let named = |list: &[String]| {
            list.iter().any(|a| {
                a.to_ascii_lowercase()
                    .contains(&attribute.to_ascii_lowercase())
            })
        };
        let shown = if self.attributes.is_empty() {
            !named(&self.excluded)
        } else {
            named(&self.attributes)
        };
        let filtered = self.filter.as_ref().is_some_and(|f| {
            f.to_string()
                .to_ascii_lowercase()
                .contains(&attribute.to_ascii_lowercase())
        });
        let sorted = self.sort_by.as_ref().is_some_and(|s| {
            s.to_ascii_lowercase()
                .contains(&attribute.to_ascii_lowercase())
        });
        shown || filtered || sorted
    }
}

/// Resources copied out of the engine under one hold of its read lock while a list is
/// scanned: the lock is held for a few milliseconds at most, then released while they
/// are rendered and tested.
pub const CHUNK: usize = 256;

/// Groups copied out at once when their members are shown: a group may hold tens of
/// thousands of members, each copied under the lock.
pub const MEMBERS_CHUNK: usize = 4;

/// What one list may cost, in units of one comparison of the filter against one value
/// of a resource; rendering a resource counts [`RENDER_COST`]. A list whose least cost
/// (every candidate rendered, each comparison made once) is over the budget is refused
/// (`400 tooMany`) before it starts; one that reaches it while scanning (its resources
/// hold many values) is refused then. About 150 ms of one core of the pool on the 2-core
/// machine of docs/benchmarks.md; the engine's lock is held only to copy each chunk.
pub const MAX_SCAN_COST: u64 = 1_000_000;

/// What rendering one resource costs in the units of [`MAX_SCAN_COST`].
pub const RENDER_COST: u64 = 20;

/// The least cost of testing every candidate, checked against [`MAX_SCAN_COST`] before
/// a scan starts.
pub fn scan_cost(query: &ListQuery, candidates: usize) -> u64 {
    let terms = query.filter.as_ref().map_or(0, Filter::terms) as u64;
    (candidates as u64).saturating_mul(RENDER_COST.saturating_add(terms))
}

/// What testing one rendered resource costs: its rendering, and each comparison once
/// per value of the largest multi-valued attribute (a comparison reads at most one
/// attribute's values).
fn resource_cost(terms: u64, resource: &Value) -> u64 {
    let widest: u64 = resource
        .as_object()
        .map(|object| {
            object
                .values()
                .map(|v| match v {
                    Value::Array(items) => items.len() as u64,
                    Value::Object(inner) => inner
                        .values()
                        .map(|v| v.as_array().map_or(0, |a| a.len() as u64))
                        .max()
                        .unwrap_or(0),
                    _ => 0,
                })
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    RENDER_COST
        .saturating_add(terms.saturating_mul(widest.max(1)))
        .saturating_add(size_cost(resource))
}

/// Text bytes one unit of [`MAX_SCAN_COST`] pays for: a resource with long values costs
/// what copying, rendering and comparing them takes (a user with a 500 KB `profileUrl`
/// costs about 8,000 units).
const BYTES_PER_UNIT: u64 = 64;

/// What one member of a group costs to render (its `value`, `$ref` and `display`).
const MEMBER_COST: u64 = 10;

/// What a resource's size adds to its cost: its text, and a group's members.
fn size_cost(resource: &Value) -> u64 {
    fn text(value: &Value) -> u64 {
        match value {
            Value::String(s) => s.len() as u64,
            Value::Array(items) => items.iter().map(text).sum(),
            Value::Object(fields) => fields.iter().map(|(k, v)| k.len() as u64 + text(v)).sum(),
            _ => 0,
        }
    }
    let members = resource
        .get("members")
        .and_then(Value::as_array)
        .map_or(0, |m| m.len() as u64);
    (text(resource) / BYTES_PER_UNIT).saturating_add(members.saturating_mul(MEMBER_COST))
}

fn too_costly(query: &ListQuery, candidates: usize, what: &str) -> ScimError {
    let terms = query.filter.as_ref().map_or(0, Filter::terms);
    ScimError::bad(
        ScimType::TooMany,
        format!(
            "this list would test {terms} comparison(s) against each of {candidates} {what}, \
             more than one request may cost; narrow the filter with `and` and an equality \
             answered from an index (`userName eq`, `externalId eq`, `emails.value eq`, a \
             group's `displayName eq`), or use fewer comparisons"
        ),
    )
}

/// Answers a list. Without filter and sort only the page is fetched and rendered.
/// Otherwise the candidates are fetched from the engine `chunk` at a time ([`CHUNK`],
/// or [`MEMBERS_CHUNK`] for groups with their members)
/// (`fetch` holds the engine's read lock, briefly), then rendered and tested with the
/// lock released; a scan over its budget is `400 tooMany`.
pub fn respond<P>(
    query: &ListQuery,
    schema: &ResourceSchema,
    candidates: &[Id],
    chunk: usize,
    what: &str,
    fetch: &dyn Fn(&[Id]) -> Vec<P>,
    render: &dyn Fn(&P) -> Value,
) -> Result<Value, ScimError> {
    if let Some(filter) = &query.filter {
        eval::check(filter, schema)?;
    }
    let skip = query.start_index - 1;
    let (total, page): (usize, Vec<Value>) = if query.filter.is_none() && query.sort_by.is_none() {
        let total = candidates.len();
        let shown = total.saturating_sub(skip).min(query.count);
        if (shown as u64).saturating_mul(RENDER_COST) > MAX_SCAN_COST {
            return Err(too_costly(query, shown, what));
        }
        let ids: Vec<Id> = candidates
            .iter()
            .skip(skip)
            .take(query.count)
            .copied()
            .collect();
        // The page's resources may be large (groups with their members): rendering
        // stops, and the list is refused, once they cost more than the budget.
        let mut spent = 0u64;
        let mut page = Vec::with_capacity(ids.len());
        for parts in ids.chunks(chunk.max(1)).flat_map(fetch) {
            let resource = render(&parts);
            spent = spent.saturating_add(resource_cost(0, &resource));
            if spent > MAX_SCAN_COST {
                return Err(ScimError::bad(
                    ScimType::TooMany,
                    format!(
                        "this page of {what} is larger than one request may render; ask for \
                         fewer with `count`, or leave out large attributes with \
                         `excludedAttributes=members`"
                    ),
                ));
            }
            page.push(resource);
        }
        (total, page)
    } else {
        if scan_cost(query, candidates.len()) > MAX_SCAN_COST {
            return Err(too_costly(query, candidates.len(), what));
        }
        let terms = query.filter.as_ref().map_or(0, Filter::terms) as u64;
        let keep_all = query.sort_by.is_some();
        let mut matched: Vec<Value> = Vec::new();
        let (mut total, mut spent) = (0usize, 0u64);
        for ids in candidates.chunks(chunk.max(1)) {
            for parts in fetch(ids) {
                let resource = render(&parts);
                spent = spent.saturating_add(resource_cost(terms, &resource));
                if spent > MAX_SCAN_COST {
                    return Err(too_costly(query, candidates.len(), what));
                }
                let hit = query
                    .filter
                    .as_ref()
                    .is_none_or(|f| eval::matches(f, &resource, schema));
                if !hit {
                    continue;
                }
                total += 1;
                // Unsorted, only the page is kept; sorted, every match is.
                if keep_all || (total > skip && matched.len() < query.count) {
                    matched.push(resource);
                }
            }
        }
        if let Some(sort_by) = &query.sort_by {
            let mut keyed: Vec<(Option<Value>, Value)> = matched
                .into_iter()
                .map(|r| (project::sort_key(&r, schema, sort_by), r))
                .collect();
            keyed.sort_by(|a, b| project::compare_keys(&a.0, &b.0));
            if query.descending {
                keyed.reverse();
            }
            matched = keyed
                .into_iter()
                .map(|(_, r)| r)
                .skip(skip)
                .take(query.count)
                .collect();
        }
        (total, matched)
    };
    let resources: Vec<Value> = page
        .into_iter()
        .map(|mut r| {
            if let Value::Object(map) = &mut r {
                project::project(map, schema, &query.attributes, &query.excluded);
            }
            r
        })
        .collect();
    Ok(json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": query.start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    }))
}

/// One resource shaped by `attributes`/`excludedAttributes`.
pub fn shape(mut resource: Value, schema: &ResourceSchema, query: &ListQuery) -> Value {
    if let Value::Object(map) = &mut resource {
        project::project(map, schema, &query.attributes, &query.excluded);
    }
    resource
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;

    use roster_model::Id;
    use serde_json::{json, Value};

    use super::{respond, ListQuery, MAX_SCAN_COST};

    fn list(params: &[(&str, &str)], count: usize, resource: &dyn Fn(usize) -> Value) -> u16 {
        let params: HashMap<String, String> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let query = ListQuery::from_params(&params).unwrap();
        let ids: Vec<Id> = (0..count).map(|_| roster_model::new_id()).collect();
        let index: HashMap<Id, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let fetch = |chunk: &[Id]| chunk.iter().map(|id| index[id]).collect::<Vec<_>>();
        let render = |i: &usize| resource(*i);
        match respond(
            &query,
            &roster_scim::schema::group_resource(),
            &ids,
            4,
            "groups",
            &fetch,
            &render,
        ) {
            Ok(_) => 200,
            Err(error) => error.status,
        }
    }

    fn group(i: usize, members: usize) -> Value {
        let members: Vec<Value> = (0..members)
            .map(|m| json!({"value": format!("{m}"), "$ref": "https://x/Users/1", "display": "m"}))
            .collect();
        json!({"id": format!("{i}"), "displayName": format!("g{i}"), "members": members})
    }

    #[test]
    fn a_page_of_large_groups_is_refused_past_the_budget() {
        assert_eq!(list(&[], 100, &|i| group(i, 100)), 200);
        let per_group = (MAX_SCAN_COST / 10 / 50) as usize;
        assert_eq!(list(&[], 60, &|i| group(i, per_group)), 400);
        // Without their members (as a client asks with excludedAttributes), the same
        // groups are a small page.
        assert_eq!(list(&[], 60, &|i| group(i, 0)), 200);
    }

    #[test]
    fn a_scan_over_long_values_is_refused_past_the_budget() {
        let fat = |i: usize| json!({"id": format!("{i}"), "displayName": "x".repeat(500_000)});
        assert_eq!(
            list(&[("filter", "displayName co \"zzz\"")], 200, &fat),
            400
        );
        let lean = |i: usize| json!({"id": format!("{i}"), "displayName": format!("g{i}")});
        assert_eq!(
            list(&[("filter", "displayName co \"zzz\"")], 200, &lean),
            200
        );
    }
}

//! Evaluating a [`Filter`] against a resource as JSON (RFC 7644 §3.4.2.2): attribute
//! names compare case-insensitively, string values by the attribute's `caseExact`, a
//! multi-valued attribute matches when any of its values does, and a complex attribute
//! named without a sub-attribute is compared through its `value`.

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimType};
use crate::filter::{AttrPath, CompareOp, Filter, Value as Operand};
use crate::schema::{get_ci, Attribute, Kind, ResourceSchema};

/// Refuses a filter whose operators do not fit its attributes' types (`co` on a
/// boolean, `gt` on a boolean or a complex attribute). Attributes the resource type does
/// not have are allowed and match nothing.
pub fn check(filter: &Filter, schema: &ResourceSchema) -> Result<(), ScimError> {
    check_in(filter, &Scope::Resource(schema))
}

/// Whether a resource matches a filter already [`check`]ed.
pub fn matches(filter: &Filter, resource: &Value, schema: &ResourceSchema) -> bool {
    match resource.as_object() {
        Some(object) => eval(filter, object, &Scope::Resource(schema)),
        None => false,
    }
}

/// What the paths of a filter are relative to: the resource, or one value of a
/// multi-valued complex attribute inside `[…]`.
enum Scope<'s> {
    Resource(&'s ResourceSchema),
    Element(&'s Attribute),
}

/// A path resolved in a scope: the attribute to read from the object and the one whose
/// type and case rules apply at the end.
struct Target<'s> {
    extension: Option<&'s str>,
    attribute: &'s Attribute,
    sub: Option<&'s Attribute>,
}

impl Scope<'_> {
    fn resolve(&self, path: &AttrPath) -> Option<Target<'_>> {
        match self {
            Scope::Resource(schema) => {
                let r = schema.resolve(path.uri.as_deref(), &path.name, path.sub.as_deref())?;
                Some(Target {
                    extension: r.extension,
                    attribute: r.attribute,
                    sub: r.sub,
                })
            }
            Scope::Element(parent) => {
                if path.uri.is_some() || path.sub.is_some() {
                    return None;
                }
                Some(Target {
                    extension: None,
                    attribute: parent.sub(&path.name)?,
                    sub: None,
                })
            }
        }
    }
}

impl Target<'_> {
    /// The attribute whose type and case apply to compared values: the sub-attribute, or
    /// `value` of a complex attribute named alone.
    fn leaf(&self) -> &Attribute {
        match self.sub {
            Some(sub) => sub,
            None if self.attribute.kind == Kind::Complex => {
                self.attribute.sub("value").unwrap_or(self.attribute)
            }
            None => self.attribute,
        }
    }

    /// Every value the path reaches in `object`, arrays flattened.
    fn values<'v>(&self, object: &'v Map<String, Value>) -> Vec<&'v Value> {
        let container = match self.extension {
            Some(urn) => match get_ci(object, urn).and_then(Value::as_object) {
                Some(c) => c,
                None => return Vec::new(),
            },
            None => object,
        };
        let Some(top) = get_ci(container, &self.attribute.name) else {
            return Vec::new();
        };
        let sub = match self.sub {
            Some(sub) => Some(sub.name.as_str()),
            None if self.attribute.kind == Kind::Complex => Some("value"),
            None => None,
        };
        let mut out = Vec::new();
        let mut push = |v: &'v Value| match sub {
            Some(sub) => {
                if let Some(inner) = v.as_object().and_then(|o| get_ci(o, sub)) {
                    out.push(inner);
                }
            }
            None => out.push(v),
        };
        match top {
            Value::Array(items) => items.iter().for_each(&mut push),
            other => push(other),
        }
        out
    }
}

fn check_in(filter: &Filter, scope: &Scope) -> Result<(), ScimError> {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            check_in(a, scope)?;
            check_in(b, scope)
        }
        Filter::Not(inner) => check_in(inner, scope),
        Filter::Present(_) => Ok(()),
        Filter::Compare(path, op, _) => {
            let Some(target) = scope.resolve(path) else {
                return Ok(());
            };
            let kind = target.leaf().kind;
            let fits = match op {
                CompareOp::Eq | CompareOp::Ne => kind != Kind::Complex,
                CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
                    matches!(kind, Kind::String | Kind::Reference | Kind::DateTime)
                }
                _ => matches!(
                    kind,
                    Kind::String | Kind::DateTime | Kind::Decimal | Kind::Integer | Kind::Reference
                ),
            };
            if fits {
                Ok(())
            } else {
                Err(ScimError::bad(
                    ScimType::InvalidFilter,
                    format!(
                        "`{}` does not apply to `{path}`, which is {:?}",
                        op.as_str(),
                        kind
                    ),
                ))
            }
        }
        Filter::ValuePath(path, inner) => match scope.resolve(path) {
            Some(target) if target.attribute.kind == Kind::Complex && target.sub.is_none() => {
                check_in(inner, &Scope::Element(target.attribute))
            }
            Some(_) => Err(ScimError::bad(
                ScimType::InvalidFilter,
                format!("`{path}[…]` needs a complex attribute"),
            )),
            None => Ok(()),
        },
    }
}

fn eval(filter: &Filter, object: &Map<String, Value>, scope: &Scope) -> bool {
    match filter {
        Filter::And(a, b) => eval(a, object, scope) && eval(b, object, scope),
        Filter::Or(a, b) => eval(a, object, scope) || eval(b, object, scope),
        Filter::Not(inner) => !eval(inner, object, scope),
        Filter::Present(path) => scope
            .resolve(path)
            .is_some_and(|t| t.values(object).into_iter().any(is_present)),
        Filter::Compare(path, op, operand) => {
            let Some(target) = scope.resolve(path) else {
                return *op == CompareOp::Ne;
            };
            let leaf = target.leaf();
            let values = target.values(object);
            match op {
                CompareOp::Ne => !values
                    .iter()
                    .any(|v| compare(v, CompareOp::Eq, operand, leaf)),
                _ => values.iter().any(|v| compare(v, *op, operand, leaf)),
            }
        }
        Filter::ValuePath(path, inner) => {
            let Some(target) = scope.resolve(path) else {
                return false;
            };
            let container = match target.extension {
                Some(urn) => get_ci(object, urn).and_then(Value::as_object),
                None => Some(object),
            };
            let Some(top) = container.and_then(|c| get_ci(c, &target.attribute.name)) else {
                return false;
            };
            let element_scope = Scope::Element(target.attribute);
            let test = |v: &Value| {
                v.as_object()
                    .is_some_and(|o| eval(inner, o, &element_scope))
            };
            match top {
                Value::Array(items) => items.iter().any(test),
                other => test(other),
            }
        }
    }
}

fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// Compares one value of the resource with the filter's operand.
fn compare(value: &Value, op: CompareOp, operand: &Operand, leaf: &Attribute) -> bool {
    match (value, operand) {
        (Value::String(have), Operand::String(want)) => {
            let (have, want) = if leaf.case_exact {
                (have.clone(), want.clone())
            } else {
                (have.to_lowercase(), want.to_lowercase())
            };
            match op {
                CompareOp::Eq => have == want,
                CompareOp::Ne => have != want,
                CompareOp::Co => have.contains(&want),
                CompareOp::Sw => have.starts_with(&want),
                CompareOp::Ew => have.ends_with(&want),
                CompareOp::Gt => have > want,
                CompareOp::Ge => have >= want,
                CompareOp::Lt => have < want,
                CompareOp::Le => have <= want,
            }
        }
        (Value::Bool(have), Operand::Bool(want)) => match op {
            CompareOp::Eq => have == want,
            CompareOp::Ne => have != want,
            _ => false,
        },
        // A boolean compared with `"true"`, as some clients write it.
        (Value::Bool(have), Operand::String(want)) => {
            let want = want.eq_ignore_ascii_case("true");
            match op {
                CompareOp::Eq => *have == want,
                CompareOp::Ne => *have != want,
                _ => false,
            }
        }
        (Value::Number(have), Operand::Number(want)) => {
            let (Some(have), Some(want)) = (have.as_f64(), want.as_f64()) else {
                return false;
            };
            match op {
                CompareOp::Eq => have == want,
                CompareOp::Ne => have != want,
                CompareOp::Gt => have > want,
                CompareOp::Ge => have >= want,
                CompareOp::Lt => have < want,
                CompareOp::Le => have <= want,
                _ => false,
            }
        }
        (Value::Null, Operand::Null) => op == CompareOp::Eq,
        _ => false,
    }
}

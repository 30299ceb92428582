//! Evaluates a checked rule for one member: the reference semantics of SPEC §3 that any
//! faster evaluator must agree with.

use crate::check::Node;
use crate::{Op, Rule};

/// A value of an attribute, as a member has it or a rule names it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text; compared case-insensitively.
    Text(String),
    /// A number.
    Number(f64),
    /// A boolean.
    Bool(bool),
}

/// What a rule reads of a member.
pub trait Attributes {
    /// The member's value of an attribute, or `None` when it lacks it.
    fn get(&self, name: &str) -> Option<Value>;

    /// Hands the value to `f`, borrowed where the implementation keeps it: evaluators
    /// call this, so that an index need not copy values out.
    fn visit<R>(&self, name: &str, f: impl FnOnce(Option<&Value>) -> R) -> R {
        f(self.get(name).as_ref())
    }
}

impl<F: Fn(&str) -> Option<Value>> Attributes for F {
    fn get(&self, name: &str) -> Option<Value> {
        self(name)
    }
}

impl Rule {
    /// Whether the rule holds for a member. A member lacking the attribute fails `=`,
    /// `IN`, the comparisons and the text operators, and passes `!=` and `NOT IN`.
    pub fn matches(&self, member: &impl Attributes) -> bool {
        eval(&self.root, member)
    }
}

fn eval(node: &Node, member: &impl Attributes) -> bool {
    match node {
        Node::Or(items) => items.iter().any(|n| eval(n, member)),
        Node::And(items) => items.iter().all(|n| eval(n, member)),
        Node::Cond {
            attribute,
            op,
            values,
        } => {
            let actual = member.get(attribute).map(|v| match v {
                Value::Text(s) => Value::Text(crate::fold(&s).into_owned()),
                other => other,
            });
            condition(actual.as_ref(), *op, values)
        }
    }
}

fn condition(actual: Option<&Value>, op: Op, values: &[Value]) -> bool {
    let Some(actual) = actual else {
        return matches!(op, Op::Ne | Op::NotIn);
    };
    let first = values.first();
    match op {
        Op::Eq => first == Some(actual),
        Op::Ne => first != Some(actual),
        Op::In => values.contains(actual),
        Op::NotIn => !values.contains(actual),
        Op::Lt | Op::Le | Op::Gt | Op::Ge => match (actual, first) {
            (Value::Number(a), Some(Value::Number(b))) => match op {
                Op::Lt => a < b,
                Op::Le => a <= b,
                Op::Gt => a > b,
                _ => a >= b,
            },
            _ => false,
        },
        Op::StartsWith | Op::EndsWith | Op::Contains => match (actual, first) {
            (Value::Text(a), Some(Value::Text(b))) => match op {
                Op::StartsWith => a.starts_with(b.as_str()),
                Op::EndsWith => a.ends_with(b.as_str()),
                _ => a.contains(b.as_str()),
            },
            _ => false,
        },
    }
}

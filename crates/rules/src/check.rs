//! Resolves a parsed rule against the attributes a member kind has: every error at once,
//! each with its span.

use std::collections::BTreeMap;

use crate::{Condition, Expr, Literal, Op, RuleError, Value};

/// The type of an attribute a rule can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttrType {
    /// Compared case-insensitively; `=`, `!=`, `IN`, `NOT IN` and the text operators.
    Text,
    /// Compared as numbers; `=`, `!=`, `IN`, `NOT IN` and the comparisons.
    Number,
    /// `true` or `false`; `=`, `!=`, `IN`, `NOT IN`.
    Boolean,
}

impl AttrType {
    /// The operators that apply to values of this type (SPEC §3): the one list the
    /// checker enforces and generators draw from.
    pub fn operators(self) -> &'static [Op] {
        match self {
            AttrType::Text => &[
                Op::Eq,
                Op::Ne,
                Op::In,
                Op::NotIn,
                Op::StartsWith,
                Op::EndsWith,
                Op::Contains,
            ],
            AttrType::Number => &[
                Op::Eq,
                Op::Ne,
                Op::In,
                Op::NotIn,
                Op::Lt,
                Op::Le,
                Op::Gt,
                Op::Ge,
            ],
            AttrType::Boolean => &[Op::Eq, Op::Ne, Op::In, Op::NotIn],
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            AttrType::Text => "text",
            AttrType::Number => "a number",
            AttrType::Boolean => "a boolean",
        }
    }
}

/// The attributes a rule may read: built-ins and the properties of one member kind.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    attributes: BTreeMap<String, AttrType>,
}

impl Schema {
    /// An empty schema.
    pub fn new() -> Self {
        Schema::default()
    }

    /// Adds an attribute.
    pub fn with(mut self, name: impl Into<String>, ty: AttrType) -> Self {
        self.attributes.insert(name.into(), ty);
        self
    }

    /// The type of an attribute, if the schema has it.
    pub fn get(&self, name: &str) -> Option<AttrType> {
        self.attributes.get(name).copied()
    }

    /// The known attribute closest to a misspelled one, if any is close.
    fn suggest(&self, name: &str) -> Option<&str> {
        let lower = name.to_lowercase();
        self.attributes
            .keys()
            .map(|known| (known, strsim::jaro_winkler(&lower, known)))
            .filter(|(known, score)| *score >= 0.8 || strsim::levenshtein(&lower, known) <= 2)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(known, _)| known.as_str())
    }
}

/// A checked rule: every attribute known, every operator and value fitting its type.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub(crate) root: Node,
}

/// The checked tree, with text values lower-cased once: what evaluators walk.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Any of the alternatives.
    Or(Vec<Node>),
    /// All of the conjuncts.
    And(Vec<Node>),
    /// One condition; `values` fit the attribute's type.
    Cond {
        /// The attribute read.
        attribute: String,
        /// The operator.
        op: Op,
        /// One value, or several for `IN` and `NOT IN`.
        values: Vec<Value>,
    },
}

impl Rule {
    /// The checked tree.
    pub fn root(&self) -> &Node {
        &self.root
    }

    /// Every attribute the rule reads, once each, in order: what an engine indexes to know
    /// which rules an attribute change can affect.
    pub fn attributes(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        fn walk<'a>(node: &'a Node, out: &mut Vec<&'a str>) {
            match node {
                Node::Or(items) | Node::And(items) => items.iter().for_each(|n| walk(n, out)),
                Node::Cond { attribute, .. } => {
                    if !out.contains(&attribute.as_str()) {
                        out.push(attribute);
                    }
                }
            }
        }
        walk(&self.root, &mut out);
        out
    }
}

/// Checks a parsed rule against a schema.
pub fn check(expr: &Expr, schema: &Schema) -> Result<Rule, Vec<RuleError>> {
    let mut errors = Vec::new();
    let root = node(expr, schema, &mut errors);
    if errors.is_empty() {
        Ok(Rule { root })
    } else {
        Err(errors)
    }
}

fn node(expr: &Expr, schema: &Schema, errors: &mut Vec<RuleError>) -> Node {
    match expr {
        Expr::Or(items, _) => Node::Or(items.iter().map(|e| node(e, schema, errors)).collect()),
        Expr::And(items, _) => Node::And(items.iter().map(|e| node(e, schema, errors)).collect()),
        Expr::Cond(c) => condition(c, schema, errors),
    }
}

fn condition(c: &Condition, schema: &Schema, errors: &mut Vec<RuleError>) -> Node {
    let placeholder = Node::Cond {
        attribute: c.attribute.clone(),
        op: c.op,
        values: Vec::new(),
    };
    let Some(ty) = schema.get(&c.attribute) else {
        let hint = schema
            .suggest(&c.attribute)
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        errors.push(RuleError::new(
            format!("unknown attribute `{}`{hint}", c.attribute),
            c.attribute_span,
        ));
        return placeholder;
    };
    if !ty.operators().contains(&c.op) {
        errors.push(RuleError::new(
            format!(
                "`{}` does not apply to `{}`, which is {}",
                c.op.as_str(),
                c.attribute,
                ty.as_str()
            ),
            c.op_span,
        ));
        return placeholder;
    }
    let mut values = Vec::with_capacity(c.values.len());
    for literal in &c.values {
        let value = match (ty, literal) {
            (AttrType::Text, Literal::Text(s, _)) => Some(Value::Text(crate::fold(s).into_owned())),
            (AttrType::Text, Literal::Number { raw, .. }) => {
                Some(Value::Text(crate::fold(raw).into_owned()))
            }
            (AttrType::Number, Literal::Number { value, .. }) => Some(Value::Number(*value)),
            (AttrType::Boolean, Literal::Bool(b, _)) => Some(Value::Bool(*b)),
            _ => None,
        };
        match value {
            Some(v) => values.push(v),
            None => errors.push(RuleError::new(
                format!("`{}` is {}; `{literal}` is not", c.attribute, ty.as_str()),
                literal.span(),
            )),
        }
    }
    Node::Cond {
        attribute: c.attribute.clone(),
        op: c.op,
        values,
    }
}

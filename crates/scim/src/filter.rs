//! The SCIM filter language (RFC 7644 §3.4.2.2):
//!
//! ```text
//! filter    := or_expr
//! or_expr   := and_expr ( "or" and_expr )*
//! and_expr  := unary ( "and" unary )*
//! unary     := "not" "(" filter ")" | "(" filter ")" | attr_expr
//! attr_expr := path "pr" | path op value
//!            | path "[" filter "]" [ "." name ( "pr" | op value ) ]
//! path      := [ uri ":" ] name [ "." name ]
//! op        := eq | ne | co | sw | ew | gt | ge | lt | le
//! value     := "null" | "true" | "false" | JSON number | JSON string
//! ```
//!
//! Keywords and operators are read in any case. `and` binds tighter than `or`, and both
//! group to the left. Strings and numbers are JSON's, decoded by `serde_json`. Limits
//! ([`MAX_LEN`] bytes, [`MAX_DEPTH`] levels of brackets) are errors, never a stack
//! overflow.

use std::fmt;

/// Longest filter accepted, in bytes.
pub const MAX_LEN: usize = 8192;
/// Deepest nesting of parentheses and value-path brackets accepted.
pub const MAX_DEPTH: usize = 64;

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Both hold.
    And(Box<Filter>, Box<Filter>),
    /// Either holds.
    Or(Box<Filter>, Box<Filter>),
    /// The inner filter does not hold.
    Not(Box<Filter>),
    /// The attribute has a value (`pr`).
    Present(AttrPath),
    /// The attribute compares so with the value.
    Compare(AttrPath, CompareOp, Value),
    /// Some value of a multi-valued attribute matches the inner filter, whose paths name
    /// its sub-attributes (`emails[type eq "work"]`).
    ValuePath(AttrPath, Box<Filter>),
}

impl Filter {
    /// How many comparisons (`eq`, `co`, `pr`, …) the filter makes of one resource at
    /// most: what testing it against a resource costs, for the budget of a scan.
    pub fn terms(&self) -> usize {
        let (mut count, mut stack) = (0usize, vec![self]);
        while let Some(filter) = stack.pop() {
            match filter {
                Filter::And(a, b) | Filter::Or(a, b) => {
                    stack.push(a);
                    stack.push(b);
                }
                Filter::Not(inner) | Filter::ValuePath(_, inner) => stack.push(inner),
                Filter::Present(_) | Filter::Compare(..) => count += 1,
            }
        }
        count
    }
}

/// An attribute, optionally qualified by its schema URI, optionally with a sub-attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema URI (`urn:ietf:params:scim:schemas:core:2.0:User`), when given.
    pub uri: Option<String>,
    /// The attribute's name, as written (SCIM names compare case-insensitively).
    pub name: String,
    /// The sub-attribute (`familyName` in `name.familyName`), when given.
    pub sub: Option<String>,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `eq`: equal.
    Eq,
    /// `ne`: not equal.
    Ne,
    /// `co`: contains.
    Co,
    /// `sw`: starts with.
    Sw,
    /// `ew`: ends with.
    Ew,
    /// `gt`: greater than.
    Gt,
    /// `ge`: greater than or equal.
    Ge,
    /// `lt`: less than.
    Lt,
    /// `le`: less than or equal.
    Le,
}

impl CompareOp {
    /// Every operator, in the RFC's order.
    pub const ALL: [CompareOp; 9] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ];

    /// The operator as the RFC writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    fn from_word(word: &str) -> Option<CompareOp> {
        CompareOp::ALL
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(word))
    }
}

/// A value compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A JSON number, kept as written.
    Number(serde_json::Number),
    /// A JSON string, decoded.
    String(String),
}

/// Why a filter does not parse, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at byte {at})")]
pub struct FilterError {
    /// What is wrong, for people.
    pub message: String,
    /// The byte offset in the filter where it went wrong.
    pub at: usize,
}

/// Parses a filter.
pub fn parse(text: &str) -> Result<Filter, FilterError> {
    let mut parser = Parser::new(text, "a filter")?;
    let filter = parser.or_expr()?;
    parser.skip_spaces();
    if parser.at < text.len() {
        return Err(parser.error("expected `and`, `or` or the end of the filter"));
    }
    Ok(filter)
}

/// The `path` of a PATCH operation (RFC 7644 §3.5.2): an attribute, or a value path
/// selecting some values of a multi-valued attribute, optionally narrowed to one of their
/// sub-attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute (with its schema URI and sub-attribute, when given).
    pub attr: AttrPath,
    /// `members[value eq "…"]`: which values the operation applies to.
    pub filter: Option<Filter>,
    /// `emails[type eq "work"].value`: the sub-attribute of the selected values.
    pub sub: Option<String>,
}

/// Parses the `path` of a PATCH operation.
pub fn parse_path(text: &str) -> Result<PatchPath, FilterError> {
    let mut parser = Parser::new(text, "a path")?;
    let attr = parser.path()?;
    let mut path = PatchPath {
        attr,
        filter: None,
        sub: None,
    };
    if let Some((filter, sub)) = parser.bracket()? {
        path.filter = Some(filter);
        path.sub = sub;
    }
    parser.skip_spaces();
    if parser.at < text.len() {
        return Err(parser.error("expected the end of the path"));
    }
    Ok(path)
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

struct Parser<'t> {
    text: &'t str,
    at: usize,
    depth: usize,
}

/// Characters of an attribute path: names, the schema URI, `.` before a sub-attribute,
/// and `$` of `$ref`.
fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.' | '$')
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl<'t> Parser<'t> {
    /// A parser at the start of `text`, which must be at most [`MAX_LEN`] bytes.
    fn new(text: &'t str, what: &str) -> Result<Self, FilterError> {
        if text.len() > MAX_LEN {
            return Err(FilterError {
                message: format!("{what} is at most {MAX_LEN} bytes"),
                at: MAX_LEN,
            });
        }
        Ok(Parser {
            text,
            at: 0,
            depth: 0,
        })
    }

    fn rest(&self) -> &str {
        self.text.get(self.at..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn error(&self, message: impl Into<String>) -> FilterError {
        FilterError {
            message: message.into(),
            at: self.at,
        }
    }

    fn skip_spaces(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start().len();
    }

    /// The run of characters passing `test` at the cursor, consumed.
    fn take_while(&mut self, test: impl Fn(char) -> bool) -> &str {
        let start = self.at;
        let len = self
            .rest()
            .char_indices()
            .find(|(_, c)| !test(*c))
            .map_or(self.rest().len(), |(i, _)| i);
        self.at += len;
        self.text.get(start..self.at).unwrap_or("")
    }

    /// Consumes `keyword` (any case) when it is the next word.
    fn keyword(&mut self, keyword: &str) -> bool {
        let saved = self.at;
        self.skip_spaces();
        let word = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
        if word.eq_ignore_ascii_case(keyword) {
            true
        } else {
            self.at = saved;
            false
        }
    }

    fn expect(&mut self, wanted: char) -> Result<(), FilterError> {
        self.skip_spaces();
        if self.peek() == Some(wanted) {
            self.at += wanted.len_utf8();
            Ok(())
        } else {
            Err(self.error(format!("expected `{wanted}`")))
        }
    }

    fn deeper(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            Err(self.error(format!("a filter nests at most {MAX_DEPTH} levels")))
        } else {
            Ok(())
        }
    }

    fn or_expr(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and_expr()?;
        while self.keyword("or") {
            let right = self.and_expr()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, FilterError> {
        self.skip_spaces();
        let saved = self.at;
        if self.keyword("not") {
            self.skip_spaces();
            if self.peek() == Some('(') {
                let inner = self.group()?;
                return Ok(Filter::Not(Box::new(inner)));
            }
            // `not` not followed by a group is an attribute named `not`.
            self.at = saved;
        }
        if self.peek() == Some('(') {
            return self.group();
        }
        self.attr_expr()
    }

    /// `( filter )`.
    fn group(&mut self) -> Result<Filter, FilterError> {
        self.expect('(')?;
        self.deeper()?;
        let inner = self.or_expr()?;
        self.expect(')')?;
        self.depth -= 1;
        Ok(inner)
    }

    fn attr_expr(&mut self) -> Result<Filter, FilterError> {
        let path = self.path()?;
        if let Some((mut inner, sub)) = self.bracket()? {
            if let Some(name) = sub {
                // `emails[type eq "work"].value eq "…"`: the same as
                // `emails[type eq "work" and value eq "…"]`.
                let sub = AttrPath {
                    uri: None,
                    name,
                    sub: None,
                };
                let tail = self.comparison(sub)?;
                inner = Filter::And(Box::new(inner), Box::new(tail));
            }
            return Ok(Filter::ValuePath(path, Box::new(inner)));
        }
        self.comparison(path)
    }

    /// A value path's `[filter]` after its attribute, and the sub-attribute after the
    /// `]` when one follows (`emails[type eq "work"].value`); `None` without a `[`.
    fn bracket(&mut self) -> Result<Option<(Filter, Option<String>)>, FilterError> {
        if self.peek() != Some('[') {
            return Ok(None);
        }
        self.at += 1;
        self.deeper()?;
        let inner = self.or_expr()?;
        self.expect(']')?;
        self.depth -= 1;
        if self.peek() != Some('.') {
            return Ok(Some((inner, None)));
        }
        self.at += 1;
        let start = self.at;
        let name = self.take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$'));
        if is_name(name) {
            Ok(Some((inner, Some(name.to_owned()))))
        } else {
            self.at = start;
            Err(self.error("expected a sub-attribute after `].`"))
        }
    }

    fn path(&mut self) -> Result<AttrPath, FilterError> {
        self.skip_spaces();
        let start = self.at;
        let raw = self.take_while(is_path_char);
        let invalid = |at| FilterError {
            message: if raw.is_empty() {
                "expected an attribute".to_owned()
            } else {
                format!("`{raw}` is not an attribute path")
            },
            at,
        };
        let (uri, rest) = match raw.rsplit_once(':') {
            Some((uri, rest)) => (Some(uri), rest),
            None => (None, raw),
        };
        let (name, sub) = match rest.split_once('.') {
            Some((name, sub)) => (name, Some(sub)),
            None => (rest, None),
        };
        let valid = is_name(name) && sub.is_none_or(is_name) && uri.is_none_or(|u| !u.is_empty());
        if !valid {
            return Err(invalid(start));
        }
        Ok(AttrPath {
            uri: uri.map(str::to_owned),
            name: name.to_owned(),
            sub: sub.map(str::to_owned),
        })
    }

    /// `pr`, or an operator and a value, after `path`.
    fn comparison(&mut self, path: AttrPath) -> Result<Filter, FilterError> {
        self.skip_spaces();
        let start = self.at;
        let word = self.take_while(|c| c.is_ascii_alphabetic());
        if word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let Some(op) = CompareOp::from_word(word) else {
            self.at = start;
            return Err(
                self.error("expected an operator: eq, ne, co, sw, ew, gt, ge, lt, le or pr")
            );
        };
        let value = self.value()?;
        Ok(Filter::Compare(path, op, value))
    }

    fn value(&mut self) -> Result<Value, FilterError> {
        self.skip_spaces();
        let start = self.at;
        if self.peek() == Some('"') {
            let len =
                string_len(self.rest()).ok_or_else(|| self.error("a string is not closed"))?;
            let raw = self.rest().get(..len).unwrap_or("");
            let decoded: String = serde_json::from_str(raw)
                .map_err(|e| self.error(format!("not a valid string: {e}")))?;
            self.at += len;
            return Ok(Value::String(decoded));
        }
        let word = self.take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'));
        let value = if word.eq_ignore_ascii_case("true") {
            Value::Bool(true)
        } else if word.eq_ignore_ascii_case("false") {
            Value::Bool(false)
        } else if word.eq_ignore_ascii_case("null") {
            Value::Null
        } else {
            match serde_json::from_str::<serde_json::Number>(word) {
                Ok(number) if !word.is_empty() => Value::Number(number),
                _ => {
                    self.at = start;
                    return Err(
                        self.error("expected a value: a \"string\", a number, true, false or null")
                    );
                }
            }
        };
        Ok(value)
    }
}

/// The length of the JSON string literal at the start of `text` (which starts with
/// `"`), quotes included; `None` when it is not closed.
fn string_len(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in text.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i + 1),
            _ => {}
        }
    }
    None
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(uri) = &self.uri {
            write!(f, "{uri}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => write!(f, "{n}"),
            Value::String(s) => {
                let quoted = serde_json::to_string(s).map_err(|_| fmt::Error)?;
                f.write_str(&quoted)
            }
        }
    }
}

impl fmt::Display for Filter {
    /// Prints the filter with the parentheses its tree needs, so that the text parses
    /// back to the same tree.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Or(left, right) => {
                write!(f, "{left} or ")?;
                match right.as_ref() {
                    Filter::Or(..) => write!(f, "({right})"),
                    _ => write!(f, "{right}"),
                }
            }
            Filter::And(left, right) => {
                match left.as_ref() {
                    Filter::Or(..) => write!(f, "({left})")?,
                    _ => write!(f, "{left}")?,
                }
                f.write_str(" and ")?;
                match right.as_ref() {
                    Filter::Or(..) | Filter::And(..) => write!(f, "({right})"),
                    _ => write!(f, "{right}"),
                }
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::Compare(path, op, value) => write!(f, "{path} {} {value}", op.as_str()),
            Filter::ValuePath(path, inner) => write!(f, "{path}[{inner}]"),
        }
    }
}

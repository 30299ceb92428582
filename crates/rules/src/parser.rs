//! Recursive descent over the tokens, with the depth bounded by [`MAX_DEPTH`] so that no
//! input can overflow the stack.

use crate::lexer::{lex, Tok, Token};
use crate::{
    Condition, Expr, Literal, Op, RuleError, Span, MAX_DEPTH, MAX_LIST_VALUES, MAX_RULE_BYTES,
};

/// Words that structure a rule; as values they must be quoted.
const KEYWORDS: &[&str] = &[
    "and", "or", "not", "in", "starts", "ends", "with", "contains",
];

/// Whether a word structures rules (in any case), so that a rule cannot name an
/// attribute so: property names are checked against it when they are defined, rather
/// than leaving a property no rule can read.
pub fn is_keyword_word(word: &str) -> bool {
    KEYWORDS.iter().any(|k| is_keyword(word, k))
}

/// Parses rule text into a tree; the first syntax error stops it.
pub fn parse(text: &str) -> Result<Expr, RuleError> {
    if text.len() > MAX_RULE_BYTES {
        return Err(RuleError::new(
            format!(
                "a rule is at most {MAX_RULE_BYTES} bytes; this one has {}",
                text.len()
            ),
            Span::new(MAX_RULE_BYTES, text.len()),
        ));
    }
    let tokens = lex(text)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        end: text.len(),
    };
    if parser.tokens.is_empty() {
        return Err(RuleError::new(
            "the rule is empty",
            Span::new(0, text.len()),
        ));
    }
    let expr = parser.or_expr(0)?;
    match parser.peek() {
        None => Ok(expr),
        Some(token) if token.tok == Tok::RParen => {
            Err(RuleError::new("`)` without a matching `(`", token.span))
        }
        Some(token) => Err(RuleError::new(
            "expected AND, OR or the end of the rule",
            token.span,
        )),
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    end: usize,
}

fn is_keyword(word: &str, keyword: &str) -> bool {
    word.eq_ignore_ascii_case(keyword)
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn end_span(&self) -> Span {
        Span::new(self.end, self.end)
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Word(w), .. }) if is_keyword(w, keyword))
    }

    fn or_expr(&mut self, depth: usize) -> Result<Expr, RuleError> {
        let mut items = vec![self.and_expr(depth)?];
        while self.peek_keyword("or") {
            self.pos += 1;
            items.push(self.and_expr(depth)?);
        }
        Ok(combine(items, Expr::Or))
    }

    fn and_expr(&mut self, depth: usize) -> Result<Expr, RuleError> {
        let mut items = vec![self.primary(depth)?];
        while self.peek_keyword("and") {
            self.pos += 1;
            items.push(self.primary(depth)?);
        }
        Ok(combine(items, Expr::And))
    }

    fn primary(&mut self, depth: usize) -> Result<Expr, RuleError> {
        match self.peek() {
            Some(Token {
                tok: Tok::LParen,
                span,
            }) => {
                let open = *span;
                if depth >= MAX_DEPTH {
                    return Err(RuleError::new(
                        format!("more than {MAX_DEPTH} levels of parentheses"),
                        open,
                    ));
                }
                self.pos += 1;
                let inner = self.or_expr(depth + 1)?;
                match self.next() {
                    Some(Token {
                        tok: Tok::RParen, ..
                    }) => Ok(inner),
                    Some(token) => Err(RuleError::new("expected `)`, AND or OR", token.span)),
                    None => Err(RuleError::new("this `(` is never closed", open)),
                }
            }
            _ => self.condition().map(Expr::Cond),
        }
    }

    fn condition(&mut self) -> Result<Condition, RuleError> {
        let (attribute, attribute_span) = match self.next() {
            Some(Token {
                tok: Tok::Word(w),
                span,
            }) if !is_keyword_word(&w) => (w, span),
            Some(token) => return Err(RuleError::new("expected an attribute name", token.span)),
            None => return Err(RuleError::new("expected a condition", self.end_span())),
        };
        let (op, op_span) = self.operator()?;
        let values = match op {
            Op::In | Op::NotIn => self.list()?,
            _ => vec![self.value()?],
        };
        let end = values.last().map_or(op_span, Literal::span);
        Ok(Condition {
            attribute,
            attribute_span,
            op,
            op_span,
            values,
            span: attribute_span.join(end),
        })
    }

    fn operator(&mut self) -> Result<(Op, Span), RuleError> {
        let expected = "expected an operator: =, !=, IN, NOT IN, <, <=, >, >=, STARTS WITH, ENDS WITH or CONTAINS";
        let Some(token) = self.next() else {
            return Err(RuleError::new(expected, self.end_span()));
        };
        let op = match &token.tok {
            Tok::Eq => Op::Eq,
            Tok::Ne => Op::Ne,
            Tok::Lt => Op::Lt,
            Tok::Le => Op::Le,
            Tok::Gt => Op::Gt,
            Tok::Ge => Op::Ge,
            Tok::Word(w) if is_keyword(w, "in") => Op::In,
            Tok::Word(w) if is_keyword(w, "contains") => Op::Contains,
            Tok::Word(w) if is_keyword(w, "not") => {
                return self.second_word(token.span, "in", Op::NotIn)
            }
            Tok::Word(w) if is_keyword(w, "starts") => {
                return self.second_word(token.span, "with", Op::StartsWith)
            }
            Tok::Word(w) if is_keyword(w, "ends") => {
                return self.second_word(token.span, "with", Op::EndsWith)
            }
            _ => return Err(RuleError::new(expected, token.span)),
        };
        Ok((op, token.span))
    }

    fn second_word(&mut self, first: Span, word: &str, op: Op) -> Result<(Op, Span), RuleError> {
        match self.next() {
            Some(Token {
                tok: Tok::Word(w),
                span,
            }) if is_keyword(&w, word) => Ok((op, first.join(span))),
            Some(token) => Err(RuleError::new(
                format!("expected {}", word.to_uppercase()),
                token.span,
            )),
            None => Err(RuleError::new(
                format!("expected {}", word.to_uppercase()),
                self.end_span(),
            )),
        }
    }

    fn list(&mut self) -> Result<Vec<Literal>, RuleError> {
        let parenthesized = matches!(
            self.peek(),
            Some(Token {
                tok: Tok::LParen,
                ..
            })
        );
        let open = self.peek().map(|t| t.span);
        if parenthesized {
            self.pos += 1;
        }
        let mut values = vec![self.value()?];
        while matches!(
            self.peek(),
            Some(Token {
                tok: Tok::Comma,
                ..
            })
        ) {
            self.pos += 1;
            let value = self.value()?;
            if values.len() >= MAX_LIST_VALUES {
                return Err(RuleError::new(
                    format!("a list holds at most {MAX_LIST_VALUES} values"),
                    value.span(),
                ));
            }
            values.push(value);
        }
        if parenthesized {
            match self.next() {
                Some(Token {
                    tok: Tok::RParen, ..
                }) => {}
                Some(token) => {
                    return Err(RuleError::new(
                        "expected `,` or `)` in the list",
                        token.span,
                    ))
                }
                None => {
                    return Err(RuleError::new(
                        "this list's `(` is never closed",
                        open.unwrap_or_default(),
                    ))
                }
            }
        }
        Ok(values)
    }

    fn value(&mut self) -> Result<Literal, RuleError> {
        match self.next() {
            Some(Token {
                tok: Tok::Quoted(s),
                span,
            }) => Ok(Literal::Text(s, span)),
            Some(Token {
                tok: Tok::Word(w),
                span,
            }) => {
                if is_keyword(&w, "true") || is_keyword(&w, "false") {
                    Ok(Literal::Bool(is_keyword(&w, "true"), span))
                } else if KEYWORDS.iter().any(|k| is_keyword(&w, k)) {
                    Err(RuleError::new(
                        format!("`{w}` is a keyword; quote it to use it as a value"),
                        span,
                    ))
                } else if let Some(value) = number(&w) {
                    Ok(Literal::Number {
                        value,
                        raw: w,
                        span,
                    })
                } else {
                    Ok(Literal::Text(w, span))
                }
            }
            Some(token) => Err(RuleError::new("expected a value", token.span)),
            None => Err(RuleError::new("expected a value", self.end_span())),
        }
    }
}

/// A bare word is a number when it is an optional `-`, digits, and optionally a `.` and
/// more digits.
fn number(word: &str) -> Option<f64> {
    let digits = word.strip_prefix('-').unwrap_or(word);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if all_digits(int) && frac.is_none_or(all_digits) {
        word.parse().ok().filter(|v: &f64| v.is_finite())
    } else {
        None
    }
}

fn combine(mut items: Vec<Expr>, make: fn(Vec<Expr>, Span) -> Expr) -> Expr {
    if items.len() == 1 {
        return items.remove(0);
    }
    let span = items
        .iter()
        .map(Expr::span)
        .reduce(Span::join)
        .unwrap_or_default();
    make(items, span)
}

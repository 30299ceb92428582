//! Splits rule text into tokens with byte spans.

use crate::{RuleError, Span};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    LParen,
    RParen,
    Comma,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// A bare word: letters, digits, `_`, `-`, `.`, `@`.
    Word(String),
    /// A double-quoted string, unescaped.
    Quoted(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub span: Span,
}

/// Whether a character may stand in a bare word.
pub(crate) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '@')
}

pub(crate) fn lex(text: &str) -> Result<Vec<Token>, RuleError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        let single = |tok| Token {
            tok,
            span: Span::new(start, start + c.len_utf8()),
        };
        match c {
            c if c.is_whitespace() => {}
            '(' => tokens.push(single(Tok::LParen)),
            ')' => tokens.push(single(Tok::RParen)),
            ',' => tokens.push(single(Tok::Comma)),
            '=' => tokens.push(single(Tok::Eq)),
            '!' | '<' | '>' => {
                let with_eq = chars.next_if(|(_, next)| *next == '=').is_some();
                let span = Span::new(start, start + 1 + usize::from(with_eq));
                let tok = match (c, with_eq) {
                    ('!', true) => Tok::Ne,
                    ('<', false) => Tok::Lt,
                    ('<', true) => Tok::Le,
                    ('>', false) => Tok::Gt,
                    ('>', true) => Tok::Ge,
                    _ => return Err(RuleError::new("`!` must be followed by `=`", span)),
                };
                tokens.push(Token { tok, span });
            }
            '"' => {
                let mut value = String::new();
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    match c {
                        '"' => {
                            end = Some(i + 1);
                            break;
                        }
                        '\\' => match chars.next() {
                            Some((_, e @ ('"' | '\\'))) => value.push(e),
                            Some((j, other)) => {
                                return Err(RuleError::new(
                                    format!("unknown escape `\\{other}`: only `\\\"` and `\\\\` are escapes"),
                                    Span::new(i, j + other.len_utf8()),
                                ))
                            }
                            None => break,
                        },
                        c => value.push(c),
                    }
                }
                let end = end.ok_or_else(|| {
                    RuleError::new("unterminated string", Span::new(start, text.len()))
                })?;
                tokens.push(Token {
                    tok: Tok::Quoted(value),
                    span: Span::new(start, end),
                });
            }
            c if is_word_char(c) => {
                let mut end = start + c.len_utf8();
                while let Some((i, next)) = chars.next_if(|(_, next)| is_word_char(*next)) {
                    end = i + next.len_utf8();
                }
                tokens.push(Token {
                    tok: Tok::Word(text[start..end].to_owned()),
                    span: Span::new(start, end),
                });
            }
            other => {
                return Err(RuleError::new(
                    format!("unexpected character `{other}`"),
                    Span::new(start, start + other.len_utf8()),
                ))
            }
        }
    }
    Ok(tokens)
}

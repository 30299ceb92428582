//! Checks of single values, shared by the operations.

use std::collections::BTreeMap;

use roster_engine::WorkspaceState;
use roster_model::{MemberKind, PropertyType, PropertyValue};
use serde_json::Value;
use unicode_normalization::UnicodeNormalization;
use unicode_security::MixedScript;

use crate::OpError;

/// Names no custom property may take: the built-in attributes of SPEC §1 and the member
/// fields a rule could confuse with them.
pub const RESERVED_NAMES: &[&str] = &[
    "email",
    "email_domain",
    "display_name",
    "type",
    "account",
    "email_verified",
    "id",
    "kind",
    "state",
];

/// Longest name of a group, property or display name, in characters.
const MAX_NAME: usize = 200;
/// Longest description, in characters.
const MAX_DESCRIPTION: usize = 4_000;
/// Longest text property value, in characters.
const MAX_TEXT_VALUE: usize = 4_000;

/// An email address as Roster accepts it: one `@`, a local part, and a domain with a dot,
/// no spaces, at most 254 bytes (RFC 5321). Returns the address trimmed and in Unicode
/// normalisation form KC, so that look-alike spellings of one address (a full-width `ａ`,
/// a ligature, a composed or decomposed accent) are stored, compared and kept unique as
/// one. An address whose local part or a domain label mixes scripts (a Cyrillic `а`
/// among Latin letters: Unicode TR39 mixed-script detection) is refused: it would look
/// like another member's address while being a different one.
/// A value as an error message quotes it: at most 100 characters, so that a refusal
/// of a megabyte of input is not a megabyte long.
pub(crate) fn shown(raw: &str) -> std::borrow::Cow<'_, str> {
    const SHOWN: usize = 100;
    match raw.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{}…", raw.get(..end).unwrap_or_default()).into(),
        None => raw.into(),
    }
}

/// The address with each Punycode label of its domain (`xn--…`) decoded, lower-cased;
/// `None` when one does not decode.
fn unicode_domain(email: &str) -> Option<String> {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Some(email.to_owned());
    };
    if !domain
        .split('.')
        .any(|label| label.len() >= 4 && label[..4].eq_ignore_ascii_case("xn--"))
    {
        return Some(email.to_owned());
    }
    let labels: Option<Vec<String>> = domain
        .split('.')
        .map(|label| match label.get(..4) {
            Some(prefix) if prefix.eq_ignore_ascii_case("xn--") => {
                idna::punycode::decode_to_string(&label[4..].to_ascii_lowercase())
                    .filter(|decoded| !decoded.is_empty())
            }
            _ => Some(label.to_owned()),
        })
        .collect();
    Some(format!("{local}@{}", labels?.join(".")))
}

pub fn email(field: &str, raw: &str) -> Result<String, OpError> {
    let shown = shown(raw);
    let email: String = raw.trim().nfkc().collect();
    // A domain label in Punycode (`xn--…`) is the same label as its Unicode spelling: it
    // is decoded, so that both forms are one address and the look-alike checks below
    // see the letters it stands for.
    let Some(email) = unicode_domain(&email) else {
        return Err(OpError::invalid(
            field,
            format!("`{shown}` has a domain label that is not valid Punycode"),
        ));
    };
    let valid = email.len() <= 254
        // The characters that make a mail header more than one plain address (a display
        // name, a comment, a second address) are refused, so the address a mail server
        // is given is the address that was checked.
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>()[]\\,;:\"".contains(c))
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.split('.').any(str::is_empty)
            }
            None => false,
        };
    if !valid {
        return Err(OpError::invalid(
            field,
            format!("`{shown}` is not a valid email address"),
        ));
    }
    if let Some(part) = mixed_script_part(&email) {
        return Err(OpError::invalid(
            field,
            format!("`{shown}` mixes scripts in `{part}` (for instance a Cyrillic or Greek letter among Latin ones), so it could pass for another address; write each part in one script"),
        ));
    }
    if let Some(c) = email.chars().find(|c| is_format_control(*c)) {
        return Err(OpError::invalid(
            field,
            format!(
                "`{shown}` contains the invisible character U+{:04X}",
                u32::from(c)
            ),
        ));
    }
    Ok(email)
}

/// The first part of an address (the local part, or one label of the domain) whose
/// letters are not all of one script, per Unicode TR39's mixed-script detection.
fn mixed_script_part(email: &str) -> Option<&str> {
    let (local, domain) = email.split_once('@')?;
    std::iter::once(local)
        .chain(domain.split('.'))
        .find(|part| !part.is_single_script())
}

/// Characters that change how text around them is laid out or read without being
/// seen: the bidirectional embeddings, overrides and isolates (which can make a name
/// read as another), and zero-width and other format characters.
fn is_format_control(c: char) -> bool {
    is_bidi_control(c)
        || matches!(c,
        '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}'
        | '\u{061C}' | '\u{180E}' | '\u{E0000}'..='\u{E007F}')
}

/// The bidirectional embeddings, overrides and isolates: they reorder the text around
/// them, so a name holding one can read as another.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that show nothing on their own: spaces, format characters, and the blank
/// letters some scripts have (Hangul fillers, the Braille blank, variation selectors).
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || is_format_control(c)
        || matches!(
            c,
            '\u{034F}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FFA0}'
                | '\u{FE00}'..='\u{FE0F}'
        )
}

/// A name for people: trimmed, not empty, at most 200 characters, with no control
/// character, no bidirectional override (which can make a name read as another in a
/// list) and at least one visible character.
pub fn name(field: &str, raw: &str) -> Result<String, OpError> {
    // Compatibility forms are the letters they stand for (a full-width `Ａdmins` is
    // `Admins`), so names are compared and kept in NFKC.
    let normalised: String = raw.trim().nfkc().collect();
    let name = normalised.as_str();
    if name.is_empty() {
        return Err(OpError::invalid(
            field,
            format!("{field} must not be empty"),
        ));
    }
    if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(OpError::invalid(
            field,
            format!("{field} must be at most {MAX_NAME} printable characters"),
        ));
    }
    if let Some(c) = name.chars().find(|c| is_bidi_control(*c)) {
        return Err(OpError::invalid(
            field,
            format!(
                "{field} contains the bidirectional control U+{:04X}, which can make it read as another name",
                u32::from(c)
            ),
        ));
    }
    if name.chars().all(is_invisible) {
        return Err(OpError::invalid(
            field,
            format!("{field} must contain a visible character, not only invisible ones"),
        ));
    }
    if let Some(c) = hidden_character(name) {
        return Err(OpError::invalid(
            field,
            format!(
                "{field} contains the invisible character U+{:04X}, which can make it pass for another name",
                u32::from(c)
            ),
        ));
    }
    if let Some(word) = name
        .split_whitespace()
        .find(|word| !word.is_single_script())
    {
        return Err(OpError::invalid(
            field,
            format!(
                "{field} mixes scripts in `{}` (for instance a Cyrillic or Greek letter among Latin ones), so it could pass for another name; write each word in one script",
                shown(word)
            ),
        ));
    }
    Ok(name.to_owned())
}

/// An invisible format character inside a name: any but the zero-width joiner and
/// non-joiner, which Arabic and Indic writing and emoji sequences need between two
/// characters, and which are allowed there (between two characters that are not
/// ASCII).
fn hidden_character(name: &str) -> Option<char> {
    let chars: Vec<char> = name.chars().collect();
    chars.iter().enumerate().find_map(|(at, c)| {
        let joiner = matches!(c, '\u{200C}' | '\u{200D}');
        let between = |offset: isize| {
            at.checked_add_signed(offset)
                .and_then(|i| chars.get(i))
                .is_some_and(|n| !n.is_ascii() && !is_format_control(*n))
        };
        let hidden = if joiner {
            !(between(-1) && between(1))
        } else {
            is_format_control(*c)
        };
        hidden.then_some(*c)
    })
}

/// A description: at most 4,000 characters.
pub fn description(raw: &str) -> Result<String, OpError> {
    if raw.chars().count() > MAX_DESCRIPTION {
        return Err(OpError::invalid(
            "description",
            format!("description must be at most {MAX_DESCRIPTION} characters"),
        ));
    }
    Ok(raw.to_owned())
}

/// A property name: a lower-case identifier that is not a built-in attribute.
pub fn property_name(raw: &str) -> Result<String, OpError> {
    let mut chars = raw.chars();
    let valid = raw.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(OpError::invalid(
            "name",
            format!("property name `{raw}` must be a lower-case identifier (a-z, 0-9, _; starting with a letter; at most 64 bytes)"),
        ));
    }
    if RESERVED_NAMES.contains(&raw) {
        return Err(OpError::invalid(
            "name",
            format!("`{raw}` is a built-in attribute and cannot be a property name"),
        ));
    }
    if roster_rules::is_keyword_word(raw) {
        return Err(OpError::invalid(
            "name",
            format!("`{raw}` is a keyword of the rule language, so no rule could read a property of that name"),
        ));
    }
    Ok(raw.to_owned())
}

/// Applies property writes to a member's properties: a `null` removes the property, any
/// other value must fit the definition of that name for the member's kind.
pub fn apply_properties(
    state: &WorkspaceState,
    kind: MemberKind,
    properties: &mut BTreeMap<String, PropertyValue>,
    writes: &BTreeMap<String, Value>,
) -> Result<(), OpError> {
    for (name, value) in writes {
        let field = format!("properties.{name}");
        if value.is_null() {
            properties.remove(name);
            continue;
        }
        let Some(def) = state.property_named(kind, name) else {
            return Err(OpError::invalid(
                field,
                format!(
                    "unknown property `{name}`: no such property is defined for {}s",
                    kind.as_str()
                ),
            ));
        };
        let typed = match (def.value_type, value) {
            (PropertyType::Text, Value::String(s)) if s.chars().count() <= MAX_TEXT_VALUE => {
                PropertyValue::Text(s.clone())
            }
            (PropertyType::Text, Value::String(_)) => {
                return Err(OpError::invalid(
                    field,
                    format!("property `{name}` is longer than {MAX_TEXT_VALUE} characters"),
                ))
            }
            (PropertyType::Number, Value::Number(n)) => match n.as_f64() {
                Some(f) if f.is_finite() => PropertyValue::Number(f),
                _ => {
                    return Err(OpError::invalid(
                        field,
                        format!("property `{name}` must be a finite number"),
                    ))
                }
            },
            (PropertyType::Boolean, Value::Bool(b)) => PropertyValue::Boolean(*b),
            (expected, got) => {
                return Err(OpError::invalid(
                    field,
                    format!(
                        "property `{name}` is of type {}; got {}",
                        expected.as_str(),
                        json_type(got)
                    ),
                ))
            }
        };
        properties.insert(name.clone(), typed);
    }
    Ok(())
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Refuses a write that names (in `If-Match`) a version of `what` other than the
/// current one: the client decided against a state that has since changed.
pub fn version(what: &str, current: i64, expected: Option<i64>) -> Result<(), OpError> {
    match expected {
        Some(v) if v != current => Err(OpError::PreconditionFailed(format!(
            "the {what} is at version {current}, not {v}"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_requires_one_at_and_a_dotted_domain() {
        assert!(email("email", "ada@example.com").is_ok());
        assert_eq!(
            email("email", "  Ada@Example.com ").ok().as_deref(),
            Some("Ada@Example.com")
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "Name<victim@example.com>",
            "a@example.com,b@example.com",
            "\"quoted\"@example.com",
            "a@b@c.com",
            "ada@.com",
        ] {
            assert!(email("email", bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn property_names_are_lower_case_identifiers_and_not_built_ins_or_keywords() {
        for good in ["cost_center2", "android", "index", "ending", "true"] {
            assert!(property_name(good).is_ok(), "{good} refused");
        }
        for bad in [
            "and",
            "or",
            "not",
            "in",
            "starts",
            "ends",
            "with",
            "contains",
            "",
            "Department",
            "2x",
            "a-b",
            "email",
            "email_domain",
            "type",
        ] {
            assert!(property_name(bad).is_err(), "{bad} accepted");
        }
    }
}

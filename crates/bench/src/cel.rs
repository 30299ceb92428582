//! The dynamic-groups peer: the same rules written in CEL and evaluated member by member with
//! the `cel-interpreter` crate, on a slice of the generated workspace; Roster evaluates
//! the same rules over the same members, and the two must select the same members.
//!
//! The translation keeps SPEC §3's semantics: member text is given to CEL lower-cased
//! (the rules' values already are), a missing attribute fails `=`, `IN`, comparisons and
//! the text operators and passes `!=` and `NOT IN` (`has()` guards), numbers are doubles.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cel_interpreter::{Context, Program, Value as Cel};
use rand::rngs::StdRng;
use roster_engine::{dynamic, WorkspaceState};
use roster_model::{Event, MemberKind, Workspace};
use roster_rules::{Node, Op, Value};

use crate::generate;

/// What the peer run measured.
pub struct Peer {
    /// Members in the slice.
    pub members: u32,
    /// Rules in the slice.
    pub rules: usize,
    /// Roster evaluating every rule over the slice from scratch.
    pub roster: Duration,
    /// CEL evaluating every rule for every member.
    pub cel: Duration,
    /// Rules for which the two selected a different number of members.
    pub disagreements: usize,
}

fn literal(value: &Value) -> String {
    match value {
        Value::Text(t) => serde_json::to_string(t).unwrap_or_default(),
        Value::Number(n) => format!("{n:?}"),
        Value::Bool(b) => b.to_string(),
    }
}

/// The rule as a CEL expression over a map `m`.
fn to_cel(node: &Node) -> String {
    match node {
        Node::Or(items) => format!(
            "({})",
            items.iter().map(to_cel).collect::<Vec<_>>().join(" || ")
        ),
        Node::And(items) => format!(
            "({})",
            items.iter().map(to_cel).collect::<Vec<_>>().join(" && ")
        ),
        Node::Cond {
            attribute,
            op,
            values,
        } => {
            let a = format!("m.{attribute}");
            let first = values.first().map(literal).unwrap_or_default();
            let list = values.iter().map(literal).collect::<Vec<_>>().join(", ");
            match op {
                Op::Eq => format!("(has({a}) && {a} == {first})"),
                Op::Ne => format!("(!has({a}) || {a} != {first})"),
                Op::In => format!("(has({a}) && {a} in [{list}])"),
                Op::NotIn => format!("(!has({a}) || !({a} in [{list}]))"),
                Op::Lt => format!("(has({a}) && {a} < {first})"),
                Op::Le => format!("(has({a}) && {a} <= {first})"),
                Op::Gt => format!("(has({a}) && {a} > {first})"),
                Op::Ge => format!("(has({a}) && {a} >= {first})"),
                Op::StartsWith => format!("(has({a}) && {a}.startsWith({first}))"),
                Op::EndsWith => format!("(has({a}) && {a}.endsWith({first}))"),
                Op::Contains => format!("(has({a}) && {a}.contains({first}))"),
            }
        }
    }
}

fn to_value(value: Value) -> Cel {
    match value {
        Value::Text(t) => Cel::from(t),
        Value::Number(n) => Cel::Float(n),
        Value::Bool(b) => Cel::Bool(b),
    }
}

/// Runs both over `members` generated members and the given rules.
pub fn run(rng: &mut StdRng, members: u32, rules: &[String]) -> Result<Peer, String> {
    let workspace = Workspace {
        id: roster_model::new_id(),
        name: "peer".into(),
        created_at: roster_model::from_micros(0),
    };
    let mut state = WorkspaceState::empty(workspace, 0);
    let properties = generate::property_events();
    state.apply(1, &properties);
    let slice: Vec<roster_model::Member> = (0..members).map(|i| generate::member(rng, i)).collect();
    let events: Vec<Event> = slice
        .iter()
        .map(|m| Event::MemberUpserted { member: m.clone() })
        .collect();
    state.apply(2, &events);
    let events = generate::group_events(rules);
    let groups: Vec<&roster_model::Group> = events
        .iter()
        .filter_map(|e| match e {
            Event::GroupUpserted { group } => Some(group),
            _ => None,
        })
        .collect();
    let started = Instant::now();
    state.apply(3, &events);
    let roster = started.elapsed();
    let roster_counts: Vec<u64> = groups
        .iter()
        .map(|g| state.effective_members(g).len())
        .collect();

    let schema = state.schema(MemberKind::User);
    let sources: Vec<String> = rules
        .iter()
        .map(|r| {
            roster_rules::compile(r, &schema)
                .map(|rule| to_cel(rule.root()))
                .map_err(|e| format!("{r}: {e:?}"))
        })
        .collect::<Result<_, _>>()?;
    let values: Vec<Cel> = slice
        .iter()
        .map(|m| {
            let map: HashMap<String, Cel> = dynamic::attribute_values(m)
                .into_iter()
                .map(|(k, v)| (k, to_value(v)))
                .collect();
            Cel::from(map)
        })
        .collect();
    drop(state);

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = sources.len().div_ceil(threads).max(1);
    let started = Instant::now();
    let cel_counts: Vec<Result<Vec<u64>, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = sources
            .chunks(chunk)
            .map(|part| {
                let values = &values;
                scope.spawn(move || {
                    let mut counts = Vec::with_capacity(part.len());
                    for source in part {
                        let program =
                            Program::compile(source).map_err(|e| format!("{source}: {e}"))?;
                        let mut count = 0u64;
                        for value in values {
                            let mut context = Context::default();
                            context.add_variable_from_value("m", value.clone());
                            if program.execute(&context) == Ok(Cel::Bool(true)) {
                                count += 1;
                            }
                        }
                        counts.push(count);
                    }
                    Ok(counts)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a CEL thread panicked".into()))
            })
            .collect()
    });
    let cel = started.elapsed();
    let mut all = Vec::with_capacity(rules.len());
    for part in cel_counts {
        all.extend(part?);
    }
    let disagreements = all
        .iter()
        .zip(&roster_counts)
        .filter(|(a, b)| a != b)
        .count();
    Ok(Peer {
        members,
        rules: rules.len(),
        roster,
        cel,
        disagreements,
    })
}

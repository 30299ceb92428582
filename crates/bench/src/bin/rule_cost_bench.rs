//! `rule-cost-bench`: how well a rule's estimated cost (`CompiledRule::cost`, what a
//! preview or a save is budgeted by) tracks the time evaluating it takes, on a generated
//! workspace, and what the budget (`roster_ops::groups::RULE_COST_BUDGET`) buys.
//!
//! ```sh
//! cargo run --release -p roster-bench --bin rule-cost-bench -- --members 1000000
//! ```

use std::time::{Duration, Instant};

use clap::Parser;
use roster_bench::generate;
use roster_bench::report::{machine, percentile};
use roster_engine::WorkspaceState;
use roster_model::{Event, MemberKind, Workspace};
use roster_ops::groups::RULE_COST_BUDGET;

/// The allocator the `roster` binary uses, so the figures are the server's.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Times rule evaluations against their estimated cost.
#[derive(Debug, Parser)]
#[command(name = "rule-cost-bench")]
struct Args {
    /// Members to generate.
    #[arg(long, default_value_t = 1_000_000)]
    members: u32,
    /// Evaluations timed per rule (the median is printed).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// The generator's seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// Rules over the generator's attributes, from the cheapest kind to the costliest.
fn rules() -> Vec<String> {
    let contains = |n: usize| {
        (0..n)
            .map(|i| format!("email contains \"user{i}9\""))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    vec![
        "department = department-7".into(),
        "cost_center in (cost_center-1, cost_center-2, cost_center-3, cost_center-4)".into(),
        "level >= 5".into(),
        "score < 500 and tenure_years > 3".into(),
        "region = region-1 and (team = team-2 or remote = true)".into(),
        "cost_center starts with \"cost_center-12\"".into(),
        "email ends with \"@domain7.example\"".into(),
        contains(1),
        contains(2),
        contains(4),
        contains(8),
    ]
}

fn main() {
    let args = Args::parse();
    println!("rule-cost-bench: estimated cost of a rule against its evaluation time");
    println!("machine: {}", machine());
    println!(
        "workspace: {} members, seed {}; budget {} units",
        args.members, args.seed, RULE_COST_BUDGET
    );
    let mut rng = generate::rng(args.seed);
    let workspace = Workspace {
        id: roster_model::new_id(),
        name: "bench".into(),
        created_at: roster_model::from_micros(0),
    };
    let mut state = WorkspaceState::empty(workspace, 0);
    let mut revision = 1;
    state.apply(revision, &generate::property_events());
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..args.members {
        batch.push(Event::MemberUpserted {
            member: generate::member(&mut rng, i),
        });
        if batch.len() == 10_000 || i + 1 == args.members {
            revision += 1;
            state.apply(revision, &batch);
            batch.clear();
        }
    }
    let kind = MemberKind::User;
    let schema = state.schema(kind);
    let members = state.kind_set(kind).len();
    let universe = state.kind_set(kind) & state.active_set();
    println!(
        "{:<44} {:>12} {:>11} {:>9} {:>10}  verdict",
        "rule", "cost units", "preview ms", "ns/unit", "save ms"
    );
    for (i, text) in rules().iter().enumerate() {
        let rule = match roster_rules::compile(text, &schema) {
            Ok(rule) => rule,
            Err(errors) => {
                eprintln!("{text}: {errors:?}");
                continue;
            }
        };
        let cost = state.dynamic().evaluation_cost(kind, &rule, members);
        let mut times: Vec<Duration> = (0..args.runs.max(1))
            .map(|_| {
                let started = Instant::now();
                let found = state.dynamic().evaluate(kind, &rule, &universe);
                std::hint::black_box(found);
                started.elapsed()
            })
            .collect();
        times.sort();
        let preview = percentile(&times, 50.0);
        // Saving applies the group to the engine: the rule is compiled against the index
        // (keeping sorted orders for STARTS WITH and ENDS WITH) and evaluated.
        revision += 1;
        let started = Instant::now();
        state.apply(
            revision,
            &[Event::GroupUpserted {
                group: generate::group(i, text),
            }],
        );
        let save = started.elapsed();
        let shown: String = text.chars().take(44).collect();
        println!(
            "{:<44} {:>12} {:>11.2} {:>9.1} {:>10.2}  {}",
            shown,
            cost,
            preview.as_secs_f64() * 1e3,
            preview.as_secs_f64() * 1e9 / cost.max(1) as f64,
            save.as_secs_f64() * 1e3,
            if cost > RULE_COST_BUDGET {
                "refused"
            } else {
                "within budget"
            }
        );
    }
}

//! `roster-bench`: the dynamic-group figures of the in-memory engine, on a generated
//! workspace, printed with the machine they were measured on.
//!
//! ```sh
//! cargo run --release -p roster-bench -- --members 1000000 --groups 10000
//! ```

use roster_bench::report::{machine, micros, peak_rss_mib, percentile};
use roster_bench::{cel, generate, served};

use std::time::{Duration, Instant};

use clap::Parser;
use rand::Rng;
use roster_engine::WorkspaceState;
use roster_model::{Event, Workspace};

/// The allocator the `roster` binary uses, so the figures are the server's.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Measures the dynamic-group engine on a generated workspace.
#[derive(Debug, Parser)]
#[command(name = "roster-bench")]
struct Args {
    /// Members to generate.
    #[arg(long, default_value_t = 1_000_000)]
    members: u32,
    /// Dynamic groups to generate.
    #[arg(long, default_value_t = 10_000)]
    groups: u32,
    /// Attribute changes to time.
    #[arg(long, default_value_t = 10_000)]
    changes: u32,
    /// The generator's seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The chance that two conditions of a generated rule are joined by OR (else AND).
    #[arg(long, default_value_t = 0.3)]
    or_share: f64,
    /// Member changes to time over HTTP on SQLite (0 skips the served figures: writing
    /// the workspace to SQLite and starting a server on it).
    #[arg(long, default_value_t = 300)]
    patches: u32,
    /// Keeps the SQLite database of the served figures (its URL is printed), for timing
    /// `roster serve` on it again.
    #[arg(long)]
    keep_database: bool,
    /// Members of the slice the CEL peer is compared on (0 skips the peer).
    #[arg(long, default_value_t = 100_000)]
    cel_members: u32,
    /// Rules of the slice the CEL peer is compared on.
    #[arg(long, default_value_t = 1_000)]
    cel_rules: u32,
}

fn main() {
    let args = Args::parse();
    println!("roster-bench: dynamic groups");
    println!("machine: {}", machine());
    println!(
        "workspace: {} members, {} dynamic groups, seed {}",
        args.members, args.groups, args.seed
    );
    let mut rng = generate::rng(args.seed);
    let workspace = Workspace {
        id: roster_model::new_id(),
        name: "bench".into(),
        created_at: roster_model::from_micros(0),
    };
    let mut state = WorkspaceState::empty(workspace, 0);
    let mut revision = 1;
    let properties = generate::property_events();
    state.apply(revision, &properties);

    // Only applying is timed, not generating.
    let mut load = Duration::ZERO;
    let mut ids = Vec::with_capacity(args.members as usize);
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..args.members {
        let member = generate::member(&mut rng, i);
        ids.push(member.id);
        batch.push(Event::MemberUpserted { member });
        if batch.len() == 10_000 || i + 1 == args.members {
            revision += 1;
            let started = Instant::now();
            state.apply(revision, &batch);
            load += started.elapsed();
            batch.clear();
        }
    }

    eprintln!(
        "loaded {} members in {:.2} s (apply only)",
        args.members,
        load.as_secs_f64()
    );
    let rules: Vec<String> = (0..args.groups)
        .map(|_| generate::rule(&mut rng, args.or_share.clamp(0.0, 1.0)))
        .collect();
    let groups = generate::group_events(&rules);
    let started = Instant::now();
    revision += 1;
    state.apply(revision, &groups);
    let evaluate = started.elapsed();
    eprintln!(
        "evaluated {} rules in {:.2} s",
        args.groups,
        evaluate.as_secs_f64()
    );
    let memberships: u64 = state
        .groups_after(None)
        .map(|g| state.effective_members(g).len())
        .sum();
    let empty = state
        .groups_after(None)
        .filter(|g| state.effective_members(g).is_empty())
        .count();

    let mut apply_times = Vec::with_capacity(args.changes as usize);
    let mut predict_times = Vec::with_capacity(args.changes as usize);
    let mut changed_memberships = 0usize;
    let mut flips_per_change = Vec::with_capacity(args.changes as usize);
    let mut by_class: std::collections::BTreeMap<&str, Vec<Duration>> = Default::default();
    for _ in 0..args.changes {
        let id = ids[rng.gen_range(0..ids.len())];
        let Some(member) = state.member(&id) else {
            continue;
        };
        let changed = generate::change(&mut rng, &member);
        let class = generate::change_class(&member, &changed);
        let events = [Event::MemberUpserted { member: changed }];
        let started = Instant::now();
        let changes = state.membership_changes(&events);
        predict_times.push(started.elapsed());
        changed_memberships += changes.len();
        flips_per_change.push(changes.len());
        revision += 1;
        let started = Instant::now();
        state.apply(revision, &events);
        let elapsed = started.elapsed();
        apply_times.push(elapsed);
        by_class.entry(class).or_default().push(elapsed);
    }
    apply_times.sort();
    predict_times.sort();
    let engine_peak = peak_rss_mib();
    drop(state);

    let served = (args.patches > 0).then(|| {
        eprintln!("writing the workspace to SQLite and starting a server on it…");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let mut rng = generate::rng(args.seed);
        runtime
            .block_on(served::run(
                &mut rng,
                args.members,
                &rules,
                args.patches,
                args.keep_database,
            ))
            .map_err(|e| e.to_string())
    });
    let peer = (args.cel_members > 0).then(|| {
        eprintln!(
            "the CEL peer on {} members × {} rules…",
            args.cel_members, args.cel_rules
        );
        let mut rng = generate::rng(args.seed);
        let slice = rules.get(..args.cel_rules as usize).unwrap_or(&rules);
        cel::run(&mut rng, args.cel_members, slice)
    });

    println!();
    println!("| figure | measured | target |");
    println!("| --- | --- | --- |");
    println!(
        "| load {} members into the engine (attributes indexed) | {:.2} s | (part of start-up) |",
        args.members,
        load.as_secs_f64()
    );
    println!(
        "| evaluate all {} rules over {} members from scratch | {:.2} s | ≤ 5 s |",
        args.groups,
        args.members,
        evaluate.as_secs_f64()
    );
    println!("| one attribute change → affected groups updated in the engine, p50 / p99 | {} / {} | ≤ 10 µs / ≤ 50 µs |", micros(percentile(&apply_times, 0.5)), micros(percentile(&apply_times, 0.99)));
    println!("| the same change's membership changes predicted for the change log, p50 / p99 | {} / {} | (part of the HTTP write) |", micros(percentile(&predict_times, 0.5)), micros(percentile(&predict_times, 0.99)));
    match engine_peak {
        Some(mib) => println!("| peak resident memory with the workspace loaded | {mib:.0} MiB | ≤ 2048 MiB |"),
        None => println!("| peak resident memory with the workspace loaded | unavailable on this OS | ≤ 2048 MiB |"),
    }
    match served {
        Some(Ok(served)) => {
            println!("| PATCH member over HTTP on SQLite (keep-alive, loopback), p50 / p99 | {} / {} | ≤ 2 ms / ≤ 10 ms |", micros(percentile(&served.patches, 0.5)), micros(percentile(&served.patches, 0.99)));
            println!(
                "| server start from SQLite until every membership is built | {:.2} s | ≤ 30 s |",
                served.start.as_secs_f64()
            );
            println!(
                "| (writing the workspace into SQLite, {} MiB) | {:.1} s | — |",
                served.bytes / (1024 * 1024),
                served.fill.as_secs_f64()
            );
        }
        Some(Err(e)) => println!("| served figures | failed: {e} | — |"),
        None => {}
    }
    match peer {
        Some(Ok(peer)) => {
            let ratio = peer.cel.as_secs_f64() / peer.roster.as_secs_f64().max(1e-9);
            println!("| peer: {} rules over {} members, Roster from scratch vs `cel-interpreter` per member | {:.3} s vs {:.1} s: Roster {ratio:.0}× faster ({} rules disagree) | ≥ 100× |", peer.rules, peer.members, peer.roster.as_secs_f64(), peer.cel.as_secs_f64(), peer.disagreements);
        }
        Some(Err(e)) => println!("| CEL peer | failed: {e} | — |"),
        None => {}
    }
    println!();
    println!("attribute changes in the engine by the kind of property changed:");
    for (class, times) in &mut by_class {
        times.sort();
        println!(
            "  {class}: {} changes, p50 {} / p99 {}",
            times.len(),
            micros(percentile(times, 0.5)),
            micros(percentile(times, 0.99))
        );
    }
    flips_per_change.sort_unstable();
    let flips_at = |q: f64| {
        let at = ((flips_per_change.len() as f64 - 1.0) * q).round() as usize;
        flips_per_change.get(at).copied().unwrap_or(0)
    };
    println!(
        "memberships one attribute change moves (the member into or out of a group): p50 {}, p90 {}, p99 {}",
        flips_at(0.5),
        flips_at(0.9),
        flips_at(0.99)
    );
    let density =
        memberships as f64 / (f64::from(args.groups.max(1)) * f64::from(args.members.max(1)));
    println!("effective memberships: {memberships} over {} groups ({empty} empty), an average group holds {:.1}% of members (OR share {}); {changed_memberships} membership changes over {} attribute changes", args.groups, density * 100.0, args.or_share, args.changes);
}

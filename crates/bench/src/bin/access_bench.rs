//! `access-bench`: the figures of the access check, on the generated
//! workspace of the dynamic-groups benchmark plus static groups, roles and assignments,
//! stored in SQLite and served over HTTP, printed with the machine.
//!
//! ```sh
//! cargo run --release -p roster-bench --bin access-bench --features peers
//! ```

use std::error::Error;
use std::time::{Duration, Instant};

use clap::Parser;
use rand::seq::SliceRandom;
use roster_bench::access::{questions, Question, Slice};
use roster_bench::report::{machine, micros, percentile};
use roster_bench::{generate, served};
use roster_model::{Event, Id};

/// The allocator the `roster` binary uses, so the figures are the server's.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Measures the access check on a generated workspace.
#[derive(Debug, Parser)]
#[command(name = "access-bench")]
struct Args {
    /// Members to generate.
    #[arg(long, default_value_t = 1_000_000)]
    members: u32,
    /// Dynamic groups to generate.
    #[arg(long, default_value_t = 10_000)]
    groups: u32,
    /// Static groups to generate (the first holds 100,000 members).
    #[arg(long, default_value_t = 1_000)]
    static_groups: usize,
    /// Roles to generate.
    #[arg(long, default_value_t = 200)]
    roles: usize,
    /// Role assignments to generate.
    #[arg(long, default_value_t = 2_000)]
    assignments: usize,
    /// The generator's seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The chance that two conditions of a generated rule are joined by OR.
    #[arg(long, default_value_t = 0.3)]
    or_share: f64,
    /// The share of assignments that go to dynamic groups (the rest to static ones).
    #[arg(long, default_value_t = 0.05)]
    dynamic_share: f64,
    /// In-process checks to time (one core).
    #[arg(long, default_value_t = 50_000_000)]
    checks: usize,
    /// Single checks to time over HTTP.
    #[arg(long, default_value_t = 5_000)]
    singles: usize,
    /// Batches of 1,000 checks to time over HTTP.
    #[arg(long, default_value_t = 400)]
    batches: usize,
    /// Timed role assignments to the 100,000-member group.
    #[arg(long, default_value_t = 20)]
    assigns: usize,
    /// Members of the slice the peers are compared on.
    #[arg(long, default_value_t = 2_000)]
    slice: usize,
    /// Seconds each peer is given to answer questions.
    #[arg(long, default_value_t = 10)]
    peer_seconds: u64,
}

/// What the generator made beside members and dynamic groups.
#[derive(Default)]
struct Made {
    target: Option<Id>,
    roles: Vec<roster_model::Role>,
}

fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    println!("access-bench: the access check");
    println!("machine: {}", machine());
    println!(
        "workspace: {} members, {} dynamic groups, {} static groups, {} roles, {} assignments ({:.0}% to dynamic groups), seed {}",
        args.members, args.groups, args.static_groups, args.roles, args.assignments, args.dynamic_share * 100.0, args.seed
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> Result<(), Box<dyn Error>> {
    let mut rng = generate::rng(args.seed);
    let rules: Vec<String> = (0..args.groups)
        .map(|_| generate::rule(&mut rng, args.or_share.clamp(0.0, 1.0)))
        .collect();
    let dynamic = generate::group_events(&rules);
    let dynamic_ids = generate::group_ids(&dynamic);
    let mut made = Made::default();
    eprintln!("writing the workspace to SQLite…");
    let filled = served::fill(&mut rng, args.members, &dynamic, |rng, ids| {
        let mut events = generate::static_groups(rng, args.static_groups, ids);
        let static_ids = generate::group_ids(&events);
        made.target = static_ids.first().copied();
        let roles = generate::roles(rng, args.roles);
        let role_ids: Vec<Id> = roles.iter().map(|r| r.id).collect();
        // The timed assignment's group (the first static one) holds no role before.
        let fixed = static_ids.get(1..).unwrap_or_default();
        let assignments = generate::assignments(
            rng,
            args.assignments,
            (&dynamic_ids, fixed),
            args.dynamic_share,
            &role_ids,
        );
        events.extend(
            roles
                .iter()
                .map(|role| Event::RoleUpserted { role: role.clone() }),
        );
        events.extend(
            assignments
                .into_iter()
                .map(|assignment| Event::RoleAssigned { assignment }),
        );
        made.roles = roles;
        events
    })
    .await?;
    eprintln!(
        "written in {:.1} s; starting a server on it…",
        filled.fill.as_secs_f64()
    );
    let (roster, start, address) = served::start(&filled.url).await?;
    let handle = roster.workspace(filled.workspace).await?;
    eprintln!("started in {:.1} s", start.as_secs_f64());
    let mut rng = generate::rng(args.seed ^ 0x5eed);

    // 1. In process, one core.
    let asked = questions(&mut rng, &filled.ids, 1 << 20);
    let (in_process, allowed_share) = {
        let state = handle.read();
        let mut allowed = 0usize;
        let mut done = 0usize;
        let started = Instant::now();
        while done < args.checks {
            for q in &asked {
                allowed += usize::from(state.allows(&q.member, q.grant));
            }
            done += asked.len();
        }
        (rate(done, started.elapsed()), allowed as f64 / done as f64)
    };
    eprintln!("in process: {in_process:.0} checks/s");
    let in_batches = {
        let state = handle.read();
        let pairs: Vec<(Id, roster_model::Grant)> =
            asked.iter().map(|q| (q.member, q.grant)).collect();
        let mut allowed = 0usize;
        let mut done = 0usize;
        let started = Instant::now();
        while done < args.checks {
            for chunk in pairs.chunks(1_000) {
                allowed += state
                    .allows_many(chunk)
                    .into_iter()
                    .filter(|a| *a == Some(true))
                    .count();
            }
            done += pairs.len();
        }
        std::hint::black_box(allowed);
        rate(done, started.elapsed())
    };

    // 2. Over HTTP: single checks, then batches of 1,000 from two connections.
    let client = reqwest::Client::new();
    let token = filled.admin.1.clone();
    let url = format!("http://{address}/api/v1/access/check");
    let body = |q: &Question| {
        serde_json::json!({
            "member_id": q.member,
            "object_type": q.grant.object_type,
            "privilege": q.grant.privilege,
        })
    };
    let mut singles = Vec::with_capacity(args.singles);
    for q in asked.iter().take(args.singles) {
        let payload = serde_json::to_vec(&body(q))?;
        let sent = Instant::now();
        let response = client
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(payload)
            .send()
            .await?;
        let status = response.status();
        let _ = response.bytes().await?;
        singles.push(sent.elapsed());
        if !status.is_success() {
            return Err(format!("check answered {status}").into());
        }
    }
    singles.sort();
    let bodies: Vec<Vec<u8>> = asked
        .chunks(1_000)
        .take(args.batches)
        .map(|chunk| {
            let checks: Vec<serde_json::Value> = chunk.iter().map(body).collect();
            serde_json::to_vec(&serde_json::json!({ "checks": checks }))
        })
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    let mut senders = Vec::new();
    for part in 0..2 {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        let mine: Vec<Vec<u8>> = bodies.iter().skip(part).step_by(2).cloned().collect();
        senders.push(tokio::spawn(async move {
            let mut answered = 0usize;
            for payload in mine {
                let response = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(payload)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if !response.status().is_success() {
                    return Err(format!("batch answered {}", response.status()));
                }
                let _ = response.bytes().await.map_err(|e| e.to_string())?;
                answered += 1_000;
            }
            Ok::<usize, String>(answered)
        }));
    }
    let mut batched = 0usize;
    for sender in senders {
        batched += sender.await??;
    }
    let batch_rate = rate(batched, started.elapsed());

    // 3. One role assignment to the group of 100,000, until every check reflects it.
    let target = made.target.ok_or("no target group")?;
    let role = made.roles.first().ok_or("no role")?.clone();
    let grant = *role.privileges.first().ok_or("an empty role")?;
    let target_member = handle
        .read()
        .group(&target)
        .map(|g| handle.read().effective_members(g))
        .and_then(|set| set.iter().next())
        .and_then(|slot| handle.read().ids_of(&[slot].into_iter().collect()).next())
        .ok_or("the target group is empty")?;
    let path = format!("http://{address}/api/v1/groups/{target}/roles/{}", role.id);
    let mut assigns = Vec::with_capacity(args.assigns);
    let mut reflected = true;
    for _ in 0..args.assigns {
        let sent = Instant::now();
        let response = client.put(&path).bearer_auth(&token).send().await?;
        let status = response.status();
        let _ = response.bytes().await?;
        assigns.push(sent.elapsed());
        if !status.is_success() {
            return Err(format!("assignment answered {status}").into());
        }
        reflected &= handle.read().allows(&target_member, grant);
        let response = client.delete(&path).bearer_auth(&token).send().await?;
        let _ = response.bytes().await?;
    }
    assigns.sort();

    // 4. The peers, on a slice, against Roster on the same slice and questions.
    let mut slice_ids = filled.ids.clone();
    slice_ids.shuffle(&mut rng);
    slice_ids.truncate(args.slice);
    let slice = Slice::of(&handle.read(), &slice_ids);
    let slice_questions = questions(&mut rng, &slice.members, 1 << 20);
    let roster_answers: Vec<bool> = {
        let state = handle.read();
        slice_questions
            .iter()
            .map(|q| state.allows(&q.member, q.grant))
            .collect()
    };
    let roster_slice = {
        let state = handle.read();
        let started = Instant::now();
        let mut allowed = 0usize;
        for _ in 0..10 {
            for q in &slice_questions {
                allowed += usize::from(state.allows(&q.member, q.grant));
            }
        }
        std::hint::black_box(allowed);
        rate(slice_questions.len() * 10, started.elapsed())
    };
    let peers = peers(&slice, &slice_questions, &roster_answers, args.peer_seconds).await;

    println!();
    println!("| figure | measured | target |");
    println!("| --- | --- | --- |");
    println!(
        "| server start from SQLite, every membership and grant built | {:.1} s | (target: ≤ 30 s) |",
        start.as_secs_f64()
    );
    println!(
        "| checks per second in process, one core, random questions ({:.1}% allowed) | {:.1} M/s | ≥ 10 M/s |",
        allowed_share * 100.0,
        in_process / 1e6
    );
    println!(
        "| the same, asked 1,000 at a time (`allows_many`, what a batch over HTTP uses) | {:.1} M/s | ≥ 10 M/s |",
        in_batches / 1e6
    );
    println!(
        "| single check over HTTP (keep-alive, loopback, client on the same machine), p50 / p99 | {} / {} | ≤ 300 µs / ≤ 2000 µs |",
        micros(percentile(&singles, 0.5)),
        micros(percentile(&singles, 0.99))
    );
    println!(
        "| checks per second over HTTP in batches of 1,000 (two connections) | {:.2} M/s | ≥ 2 M/s |",
        batch_rate / 1e6
    );
    println!(
        "| role assignment to a group of 100,000 → every check reflects it (PUT answered), p50 / max | {} / {}{} | ≤ 20 ms |",
        micros(percentile(&assigns, 0.5)),
        micros(percentile(&assigns, 1.0)),
        if reflected { "" } else { " (a check did NOT reflect it)" }
    );
    println!(
        "| Roster on the peers' slice ({} members, {} member-in-group links, {} assignments) | {:.1} M/s | — |",
        slice.members.len(),
        slice.links(),
        slice.assignments.len(),
        roster_slice / 1e6
    );
    for (name, result) in peers {
        match result {
            Ok((peer_rate, asked, disagreements)) => println!(
                "| peer `{name}` on the same slice and questions ({asked} asked) | {:.0} /s: Roster {:.0}× faster ({disagreements} answers disagree) | ≥ 20× |",
                peer_rate,
                roster_slice / peer_rate.max(1e-9)
            ),
            Err(e) => println!("| peer `{name}` | {e} | ≥ 20× |"),
        }
    }
    drop(handle);
    drop(roster);
    filled.remove();
    Ok(())
}

/// Per peer: answers per second, questions asked, and answers that differ from Roster's.
type PeerResult = Result<(f64, usize, usize), String>;

#[cfg(feature = "peers")]
async fn peers(
    slice: &Slice,
    questions: &[Question],
    expected: &[bool],
    seconds: u64,
) -> Vec<(&'static str, PeerResult)> {
    use roster_bench::access::casbin::CasbinPeer;
    use roster_bench::access::cedar::CedarPeer;

    fn time(
        budget: Duration,
        questions: &[Question],
        expected: &[bool],
        ask: impl Fn(&Question) -> Result<bool, String>,
    ) -> PeerResult {
        let started = Instant::now();
        let mut asked = 0;
        let mut disagreements = 0;
        for (q, want) in questions.iter().zip(expected) {
            if ask(q)? != *want {
                disagreements += 1;
            }
            asked += 1;
            if started.elapsed() >= budget {
                break;
            }
        }
        Ok((rate(asked, started.elapsed()), asked, disagreements))
    }
    let budget = Duration::from_secs(seconds);
    eprintln!(
        "loading the peers on a slice of {} members…",
        slice.members.len()
    );
    let cedar = CedarPeer::load(slice)
        .and_then(|peer| time(budget, questions, expected, |q| peer.allows(q)));
    let casbin = match CasbinPeer::load(slice).await {
        Ok(peer) => time(budget, questions, expected, |q| peer.allows(q)),
        Err(e) => Err(e),
    };
    vec![("cedar-policy", cedar), ("casbin", casbin)]
}

#[cfg(not(feature = "peers"))]
async fn peers(_: &Slice, _: &[Question], _: &[bool], _: u64) -> Vec<(&'static str, PeerResult)> {
    vec![(
        "cedar-policy and casbin",
        Err("not built: run with `--features peers`".into()),
    )]
}

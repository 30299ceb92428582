//! Random sequences of writes over HTTP (static memberships, attribute changes that move
//! members in and out of dynamic groups, deactivation, assignments, revocations, role
//! edits and deletions, admins added), and after each one every member × every
//! privilege asked in one batch and compared with an independent model of SPEC §1–2
//! kept by the test itself: active, and in Admins or in a group (by record, or by its
//! rule) holding a role that grants the privilege.

use std::collections::{BTreeMap, BTreeSet};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::kit::Server;
use crate::support::TestDb;

crate::on_both_stores!(random_writes_agree_with_a_model_of_the_spec);

const OBJECTS: [&str; 4] = ["conversation", "ticket", "issue", "opportunity"];
const VERBS: [&str; 4] = ["create", "read", "update", "delete"];
const DEPTS: [&str; 3] = ["sales", "ops", "eng"];

type Grant = (&'static str, &'static str);

fn all_grants() -> Vec<Grant> {
    OBJECTS
        .iter()
        .flat_map(|o| VERBS.iter().map(move |v| (*o, *v)))
        .collect()
}

/// The test's own account of the workspace.
#[derive(Default)]
struct Model {
    dept: BTreeMap<String, &'static str>,
    active: BTreeMap<String, bool>,
    admins: BTreeSet<String>,
    /// Static group → recorded members.
    records: BTreeMap<String, BTreeSet<String>>,
    /// Dynamic group → the departments its rule admits.
    rules: BTreeMap<String, Vec<&'static str>>,
    /// Role → its privileges.
    roles: BTreeMap<String, BTreeSet<Grant>>,
    /// (group, role) assignments.
    assigned: BTreeSet<(String, String)>,
}

impl Model {
    fn in_group(&self, group: &str, member: &str) -> bool {
        if let Some(records) = self.records.get(group) {
            return records.contains(member);
        }
        self.rules
            .get(group)
            .is_some_and(|depts| self.dept.get(member).is_some_and(|d| depts.contains(d)))
    }

    fn allowed(&self, member: &str, grant: Grant) -> bool {
        if !self.active.get(member).copied().unwrap_or(false) {
            return false;
        }
        self.admins.contains(member)
            || self.assigned.iter().any(|(group, role)| {
                self.in_group(group, member)
                    && self.roles.get(role).is_some_and(|g| g.contains(&grant))
            })
    }
}

fn privileges(grants: &BTreeSet<Grant>) -> Value {
    Value::Array(
        grants
            .iter()
            .map(|(o, v)| json!({"object_type": o, "privilege": v}))
            .collect(),
    )
}

async fn random_writes_agree_with_a_model_of_the_spec(db: TestDb) {
    let s = Server::start(db).await;
    let mut rng = StdRng::seed_from_u64(7);
    s.user_properties(&[("dept", "text")]).await;
    let mut model = Model::default();
    model.admins.insert(s.admin.clone());
    model.active.insert(s.admin.clone(), true);
    let mut members = Vec::new();
    for i in 0..6 {
        let dept = *DEPTS.choose(&mut rng).unwrap();
        let id = s
            .post(
                "/api/v1/members",
                &s.admin_token,
                json!({"kind": "user", "email": format!("m{i}@acme.test"), "properties": {"dept": dept}}),
            )
            .await
            .expect(201)
            .id();
        model.dept.insert(id.clone(), dept);
        model.active.insert(id.clone(), true);
        members.push(id);
    }
    let mut statics = Vec::new();
    for i in 0..2 {
        let id = s.group(&format!("static {i}")).await;
        // The creating admin owns the group and is recorded in it.
        model
            .records
            .insert(id.clone(), BTreeSet::from([s.admin.clone()]));
        statics.push(id);
    }
    let mut dynamics = Vec::new();
    for (i, depts) in [vec!["sales"], vec!["ops", "eng"]].into_iter().enumerate() {
        let rule = if depts.len() == 1 {
            format!("dept = \"{}\"", depts[0])
        } else {
            format!("dept IN (\"{}\")", depts.join("\", \""))
        };
        let id = s
            .post(
                "/api/v1/groups",
                &s.admin_token,
                json!({"name": format!("dynamic {i}"), "membership": "dynamic", "rule": rule}),
            )
            .await
            .expect(201)
            .id();
        model.rules.insert(id.clone(), depts);
        dynamics.push(id);
    }
    let groups: Vec<String> = statics.iter().chain(&dynamics).cloned().collect();
    let admins_group = s.group_named("Admins").await;
    let grants = all_grants();
    let mut roles: Vec<String> = Vec::new();
    for step in 0..40 {
        match rng.gen_range(0..9) {
            0 | 1 => {
                let group = statics.choose(&mut rng).unwrap().clone();
                let member = members.choose(&mut rng).unwrap().clone();
                let recorded = model.records[&group].contains(&member);
                if recorded {
                    s.remove(&group, &member, &s.admin_token).await.expect(200);
                    model.records.get_mut(&group).unwrap().remove(&member);
                } else {
                    s.add(&group, &member, &s.admin_token).await.expect(201);
                    model.records.get_mut(&group).unwrap().insert(member);
                }
            }
            2 => {
                let member = members.choose(&mut rng).unwrap().clone();
                let dept = *DEPTS.choose(&mut rng).unwrap();
                s.patch(
                    &format!("/api/v1/members/{member}"),
                    &s.admin_token,
                    json!({"properties": {"dept": dept}}),
                )
                .await
                .expect(200);
                model.dept.insert(member, dept);
            }
            3 => {
                let member = members.choose(&mut rng).unwrap().clone();
                let active = !model.active[&member];
                let state = if active { "active" } else { "deactivated" };
                s.patch(
                    &format!("/api/v1/members/{member}"),
                    &s.admin_token,
                    json!({"state": state}),
                )
                .await
                .expect(200);
                model.active.insert(member, active);
            }
            4 | 5 => {
                if roles.len() < 3 || rng.gen_bool(0.2) {
                    let chosen: BTreeSet<Grant> =
                        grants.choose_multiple(&mut rng, 3).copied().collect();
                    let id = s
                        .post(
                            "/api/v1/roles",
                            &s.admin_token,
                            json!({"name": format!("role {step}"), "privileges": privileges(&chosen)}),
                        )
                        .await
                        .expect(201)
                        .id();
                    model.roles.insert(id.clone(), chosen);
                    roles.push(id);
                } else {
                    let group = groups.choose(&mut rng).unwrap().clone();
                    let role = roles.choose(&mut rng).unwrap().clone();
                    let path = format!("/api/v1/groups/{group}/roles/{role}");
                    if model.assigned.contains(&(group.clone(), role.clone())) {
                        s.delete(&path, &s.admin_token).await.expect(200);
                        model.assigned.remove(&(group, role));
                    } else {
                        s.put(&path, &s.admin_token).await.expect(201);
                        model.assigned.insert((group, role));
                    }
                }
            }
            6 => {
                if let Some(role) = roles.choose(&mut rng).cloned() {
                    let size = rng.gen_range(0..4);
                    let chosen: BTreeSet<Grant> =
                        grants.choose_multiple(&mut rng, size).copied().collect();
                    s.patch(
                        &format!("/api/v1/roles/{role}"),
                        &s.admin_token,
                        json!({"privileges": privileges(&chosen)}),
                    )
                    .await
                    .expect(200);
                    model.roles.insert(role, chosen);
                }
            }
            7 => {
                if roles.len() > 3 {
                    let at = rng.gen_range(0..roles.len());
                    let role = roles.remove(at);
                    s.delete(&format!("/api/v1/roles/{role}"), &s.admin_token)
                        .await
                        .expect(200);
                    model.roles.remove(&role);
                    model.assigned.retain(|(_, r)| *r != role);
                }
            }
            _ => {
                let member = members.choose(&mut rng).unwrap().clone();
                if !model.admins.contains(&member) && model.active[&member] {
                    s.add(&admins_group, &member, &s.admin_token)
                        .await
                        .expect(201);
                    model.admins.insert(member);
                }
            }
        }
        let everyone: Vec<String> = std::iter::once(s.admin.clone())
            .chain(members.iter().cloned())
            .collect();
        let questions: Vec<(String, Grant)> = everyone
            .iter()
            .flat_map(|m| grants.iter().map(move |g| (m.clone(), *g)))
            .collect();
        let checks: Vec<Value> = questions
            .iter()
            .map(|(m, (o, v))| json!({"member_id": m, "privilege": v, "object_type": o}))
            .collect();
        let answer = s
            .post(
                "/api/v1/access/check",
                &s.admin_token,
                json!({"checks": checks}),
            )
            .await
            .expect(200);
        let results = answer.body["results"].as_array().unwrap();
        for ((member, grant), result) in questions.iter().zip(results) {
            assert_eq!(
                result["allowed"].as_bool(),
                Some(model.allowed(member, *grant)),
                "step {step}: {member} {grant:?}"
            );
        }
    }
}

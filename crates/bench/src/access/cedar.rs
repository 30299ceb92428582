//! The `cedar-policy` peer: members are entities whose parents are the groups they are
//! effective members of, and each role assignment is one policy permitting the role's
//! actions to the group's members (Admins: every action).

use std::str::FromStr;

use cedar_policy::{Authorizer, Context, Decision, Entities, EntityUid, PolicySet, Request};
use roster_model::{Grant, Id};

use super::{action_name, Question, Slice};

/// The loaded peer.
pub struct CedarPeer {
    authorizer: Authorizer,
    policies: PolicySet,
    entities: Entities,
    resource: EntityUid,
    actions: Vec<EntityUid>,
}

fn uid(kind: &str, id: &str) -> Result<EntityUid, String> {
    EntityUid::from_str(&format!("{kind}::\"{id}\"")).map_err(|e| e.to_string())
}

impl CedarPeer {
    /// Loads the slice: one policy per assignment, one entity per member and group.
    pub fn load(slice: &Slice) -> Result<CedarPeer, String> {
        let mut text = String::new();
        if let Some(admins) = slice.admins {
            text.push_str(&format!(
                "permit(principal in Group::\"{admins}\", action, resource);\n"
            ));
        }
        for (group, grants) in &slice.assignments {
            let actions: Vec<String> = grants
                .iter()
                .map(|g| format!("Action::\"{}\"", action_name(*g)))
                .collect();
            text.push_str(&format!(
                "permit(principal in Group::\"{group}\", action in [{}], resource);\n",
                actions.join(", ")
            ));
        }
        let policies = PolicySet::from_str(&text).map_err(|e| e.to_string())?;
        let mut groups: Vec<Id> = slice.assignments.iter().map(|(g, _)| *g).collect();
        groups.extend(slice.admins);
        groups.sort();
        groups.dedup();
        let mut json: Vec<serde_json::Value> = groups
            .iter()
            .map(|g| {
                serde_json::json!({"uid": {"type": "Group", "id": g.to_string()}, "attrs": {}, "parents": []})
            })
            .collect();
        for (member, parents) in &slice.memberships {
            let parents: Vec<serde_json::Value> = parents
                .iter()
                .map(|g| serde_json::json!({"type": "Group", "id": g.to_string()}))
                .collect();
            json.push(serde_json::json!({
                "uid": {"type": "Member", "id": member.to_string()},
                "attrs": {},
                "parents": parents,
            }));
        }
        let entities = Entities::from_json_value(serde_json::Value::Array(json), None)
            .map_err(|e| e.to_string())?;
        let actions = Grant::all()
            .map(|g| uid("Action", &action_name(g)))
            .collect::<Result<_, _>>()?;
        Ok(CedarPeer {
            authorizer: Authorizer::new(),
            policies,
            entities,
            resource: uid("Object", "any")?,
            actions,
        })
    }

    /// Answers one question.
    pub fn allows(&self, question: &Question) -> Result<bool, String> {
        let principal = uid("Member", &question.member.to_string())?;
        let action = self
            .actions
            .get(usize::from(question.grant.index()))
            .cloned()
            .ok_or("no such action")?;
        let request = Request::new(
            principal,
            action,
            self.resource.clone(),
            Context::empty(),
            None,
        )
        .map_err(|e| e.to_string())?;
        let response = self
            .authorizer
            .is_authorized(&request, &self.policies, &self.entities);
        Ok(response.decision() == Decision::Allow)
    }
}

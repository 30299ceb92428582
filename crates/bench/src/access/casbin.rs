//! The `casbin` peer: an RBAC model where each group is a role (`g, member, group`) and
//! each role assignment adds one policy line per privilege (`p, group, object, verb`);
//! Admins get every privilege.

use casbin::prelude::*;
use roster_model::Grant;

use super::{action_name, Question, Slice};

const MODEL: &str = "
[request_definition]
r = sub, act

[policy_definition]
p = sub, act

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && r.act == p.act
";

/// The loaded peer.
pub struct CasbinPeer {
    enforcer: Enforcer,
}

impl CasbinPeer {
    /// Loads the slice.
    pub async fn load(slice: &Slice) -> std::result::Result<CasbinPeer, String> {
        let model = DefaultModel::from_str(MODEL)
            .await
            .map_err(|e| e.to_string())?;
        let mut enforcer = Enforcer::new(model, MemoryAdapter::default())
            .await
            .map_err(|e| e.to_string())?;
        let mut policies: Vec<Vec<String>> = Vec::new();
        if let Some(admins) = slice.admins {
            policies.extend(Grant::all().map(|g| vec![admins.to_string(), action_name(g)]));
        }
        for (group, grants) in &slice.assignments {
            policies.extend(
                grants
                    .iter()
                    .map(|g| vec![group.to_string(), action_name(*g)]),
            );
        }
        policies.sort();
        policies.dedup();
        enforcer
            .add_policies(policies)
            .await
            .map_err(|e| e.to_string())?;
        let links: Vec<Vec<String>> = slice
            .memberships
            .iter()
            .flat_map(|(member, groups)| {
                groups
                    .iter()
                    .map(move |g| vec![member.to_string(), g.to_string()])
            })
            .collect();
        enforcer
            .add_grouping_policies(links)
            .await
            .map_err(|e| e.to_string())?;
        Ok(CasbinPeer { enforcer })
    }

    /// Answers one question.
    pub fn allows(&self, question: &Question) -> std::result::Result<bool, String> {
        self.enforcer
            .enforce((question.member.to_string(), action_name(question.grant)))
            .map_err(|e| e.to_string())
    }
}

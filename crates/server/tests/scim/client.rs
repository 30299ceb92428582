//! A SCIM client over the test server: a SCIM token made by the admin, requests sent as
//! `application/scim+json`, answers checked for SCIM's media type and error schema.

use reqwest::Method;
use serde_json::{json, Value};

use crate::kit::{Answer, Server};

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A SCIM client with its own token.
pub struct Scim<'s> {
    pub s: &'s Server,
    pub token: String,
    pub token_id: String,
}

impl<'s> Scim<'s> {
    /// Makes a SCIM token as the admin.
    pub async fn new(s: &'s Server) -> Scim<'s> {
        let (token, token_id) = s.scim_token().await;
        Scim { s, token, token_id }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = self
            .s
            .client
            .request(method, format!("{}/scim/v2{path}", self.s.base))
            .bearer_auth(&self.token);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/scim+json")
                .body(body.to_string());
        }
        Server::answer(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None, &[]).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(body), &[]).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Answer {
        self.send(Method::PUT, path, Some(body), &[]).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        self.send(Method::PATCH, path, Some(body), &[]).await
    }
    pub async fn delete(&self, path: &str) -> Answer {
        self.send(Method::DELETE, path, None, &[]).await
    }

    /// Provisions a user with a work email; returns its id.
    pub async fn user(&self, user_name: &str) -> String {
        let answer = self
            .post(
                "/Users",
                json!({
                    "schemas": [USER],
                    "userName": user_name,
                    "name": {"givenName": "Given", "familyName": user_name},
                    "emails": [{"value": user_name, "type": "work", "primary": true}],
                    "active": true,
                }),
            )
            .await;
        ok(answer, 201).id()
    }

    /// Provisions a group with members; returns its id.
    pub async fn group(&self, name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        let answer = self
            .post(
                "/Groups",
                json!({"schemas": [GROUP], "displayName": name, "members": members}),
            )
            .await;
        ok(answer, 201).id()
    }
}

/// Asserts a success status and SCIM's media type.
#[track_caller]
pub fn ok(answer: Answer, status: u16) -> Answer {
    assert_eq!(
        answer.status.as_u16(),
        status,
        "unexpected answer: {}",
        answer.body
    );
    if status != 204 {
        assert_eq!(media(&answer), "application/scim+json");
    }
    answer
}

/// Asserts an error in the SCIM error schema, with its `scimType` when given.
#[track_caller]
pub fn fails(answer: Answer, status: u16, scim_type: Option<&str>) -> Answer {
    assert_eq!(
        answer.status.as_u16(),
        status,
        "unexpected answer: {}",
        answer.body
    );
    assert_eq!(media(&answer), "application/scim+json");
    assert_eq!(
        answer.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert_eq!(answer.body["status"], json!(status.to_string()));
    assert!(answer.body["detail"]
        .as_str()
        .is_some_and(|d| !d.is_empty()));
    if let Some(kind) = scim_type {
        assert_eq!(answer.body["scimType"], json!(kind), "{}", answer.body);
    }
    answer
}

fn media(answer: &Answer) -> String {
    answer
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The ids of a list response's resources.
pub fn ids(answer: &Answer) -> Vec<String> {
    answer.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The status of each operation of a `/Bulk` answer, in order.
pub fn bulk_statuses(answer: &Answer) -> Vec<&str> {
    answer.body["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect()
}

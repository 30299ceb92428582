//! `/api/v1/access`: the check applications call on every request, its explanation, and
//! who holds a privilege.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use roster_model::{Grant, Member, MemberKind, ObjectType, Privilege, Revision};
use roster_ops::checks::{self, Explanation, Question, MAX_BATCH};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{cursor, ApiQuery, Auth, JsonBody, PageQuery};
use super::{ApiError, AppState};

/// A batch of 10,000 questions is about a megabyte of JSON.
const CHECK_BODY_LIMIT: usize = 4 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    super::extract::body_limit(
        Router::new().route("/access/check", post(check)),
        CHECK_BODY_LIMIT,
    )
    .route("/access/explain", post(explain))
    .route("/access/who", get(who))
}

/// The body of `POST /access/check`: one question (`member_id`, `privilege`,
/// `object_type`) or a batch (`checks`), and optionally the revision the answer must
/// reflect.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// One question: the member.
    member_id: Option<uuid::Uuid>,
    /// One question: the privilege.
    privilege: Option<Privilege>,
    /// One question: the object type.
    object_type: Option<ObjectType>,
    /// A batch of up to 10,000 questions, answered in order.
    #[schema(value_type = Option<Vec<Object>>)]
    checks: Option<Vec<QuestionBody>>,
    /// Answer only once this server has applied this revision (waiting up to two
    /// seconds, then 409): how a client reads its own write from any server.
    at_least_revision: Option<Revision>,
}

/// One question of a batch.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionBody {
    member_id: uuid::Uuid,
    privilege: Privilege,
    object_type: ObjectType,
}

impl From<QuestionBody> for Question {
    fn from(q: QuestionBody) -> Self {
        Question {
            member_id: q.member_id,
            privilege: q.privilege,
            object_type: q.object_type,
        }
    }
}

/// One answer.
#[derive(Serialize, ToSchema)]
pub struct Answer {
    /// Whether the member holds the privilege.
    allowed: bool,
}

/// The answer to one question: `{allowed, revision}`; to a batch: `{results, revision}`.
#[derive(Serialize, ToSchema)]
pub struct CheckAnswer {
    /// One question's answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed: Option<bool>,
    /// A batch's answers, in the order asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    results: Option<Vec<Answer>>,
    /// The revision the answers reflect.
    revision: Revision,
}

fn single(request: &CheckRequest) -> Result<Option<Question>, ApiError> {
    match (request.member_id, request.privilege, request.object_type) {
        (None, None, None) => Ok(None),
        (Some(member_id), Some(privilege), Some(object_type)) => Ok(Some(Question {
            member_id,
            privilege,
            object_type,
        })),
        (member, privilege, _) => {
            let field = if member.is_none() {
                "member_id"
            } else if privilege.is_none() {
                "privilege"
            } else {
                "object_type"
            };
            Err(ApiError::invalid(
                Some(field.to_owned()),
                format!("a question needs `member_id`, `privilege` and `object_type`; `{field}` is missing"),
            ))
        }
    }
}

async fn reach(app: &AppState, auth: &Auth, revision: Option<Revision>) -> Result<(), ApiError> {
    if let Some(revision) = revision {
        app.roster
            .wait_for_revision(&auth.handle, auth.workspace, revision)
            .await?;
    }
    Ok(())
}

/// May a member do this? One question or a batch of up to 10,000. Internal users ask
/// about themselves, admins about anyone.
#[utoipa::path(post, operation_id = "access_check", path = "/api/v1/access/check", tag = "access",
    request_body = CheckRequest,
    responses((status = 200, body = CheckAnswer), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn check(
    State(app): State<AppState>,
    auth: Auth,
    JsonBody(request): JsonBody<CheckRequest>,
) -> Result<Json<CheckAnswer>, ApiError> {
    let one = single(&request)?;
    reach(&app, &auth, request.at_least_revision).await?;
    let state = auth.handle.read();
    let ctx = auth.ctx(&state);
    match (one, request.checks) {
        (Some(question), None) => Ok(Json(CheckAnswer {
            allowed: Some(checks::check(&ctx, &question)?),
            results: None,
            revision: state.revision(),
        })),
        (None, Some(batch)) => {
            if batch.len() > MAX_BATCH {
                return Err(ApiError::invalid(
                    Some("checks".into()),
                    format!("at most {MAX_BATCH} checks in one batch"),
                ));
            }
            let questions: Vec<Question> = batch.into_iter().map(Question::from).collect();
            let results = checks::check_all(&ctx, &questions)?
                .into_iter()
                .map(|allowed| Answer { allowed })
                .collect();
            Ok(Json(CheckAnswer {
                allowed: None,
                results: Some(results),
                revision: state.revision(),
            }))
        }
        (Some(_), Some(_)) => Err(ApiError::invalid(
            Some("checks".into()),
            "ask one question or a batch of `checks`, not both",
        )),
        (None, None) => Err(ApiError::invalid(
            Some("member_id".into()),
            "ask one question (`member_id`, `privilege`, `object_type`) or a batch of `checks`",
        )),
    }
}

/// The body of `POST /access/explain`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainRequest {
    member_id: uuid::Uuid,
    privilege: Privilege,
    object_type: ObjectType,
    /// As for a check.
    at_least_revision: Option<Revision>,
}

/// The explanation with the revision it reflects.
#[derive(Serialize, ToSchema)]
pub struct ExplainAnswer {
    #[serde(flatten)]
    explanation: Explanation,
    revision: Revision,
}

/// Whether a member holds a privilege and every path that grants it (member → group,
/// and why it is in it → role → privilege; Admins is a path too), or what is missing.
#[utoipa::path(post, operation_id = "access_explain", path = "/api/v1/access/explain", tag = "access",
    request_body = ExplainRequest,
    responses((status = 200, body = ExplainAnswer), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn explain(
    State(app): State<AppState>,
    auth: Auth,
    JsonBody(request): JsonBody<ExplainRequest>,
) -> Result<Json<ExplainAnswer>, ApiError> {
    reach(&app, &auth, request.at_least_revision).await?;
    let state = auth.handle.read();
    let question = Question {
        member_id: request.member_id,
        privilege: request.privilege,
        object_type: request.object_type,
    };
    let explanation = checks::explain(&auth.ctx(&state), &question)?;
    Ok(Json(ExplainAnswer {
        explanation,
        revision: state.revision(),
    }))
}

/// `?privilege=&object_type=&member_kind=&limit=&cursor=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WhoQuery {
    /// The privilege.
    privilege: Privilege,
    /// The object type.
    object_type: ObjectType,
    /// Only members of this kind.
    member_kind: Option<MemberKind>,
    /// Page size (1 to 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

/// A page of the members holding a privilege.
#[derive(Serialize, ToSchema)]
pub struct WhoPage {
    /// Members, in id order.
    items: Vec<Member>,
    /// Pass as `cursor` for the next page; `null` on the last.
    next_cursor: Option<String>,
    /// How many active members hold the privilege in all.
    count: u64,
    /// The revision the list reflects.
    revision: Revision,
}

/// Every active member holding a privilege, paginated, with the count (admins).
#[utoipa::path(get, operation_id = "access_who", path = "/api/v1/access/who", tag = "access", params(WhoQuery),
    responses((status = 200, body = WhoPage), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn who(
    auth: Auth,
    ApiQuery(query): ApiQuery<WhoQuery>,
) -> Result<Json<WhoPage>, ApiError> {
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    };
    let (limit, after) = (page.limit()?, page.cursor_id()?);
    let grant = Grant {
        object_type: query.object_type,
        privilege: query.privilege,
    };
    let state = auth.handle.read();
    let holders = checks::who(
        &auth.ctx(&state),
        grant,
        query.member_kind,
        after,
        limit,
        super::MAX_VISIT,
    )?;
    let next_cursor = holders.next.map(|id| cursor(&id.to_string()));
    Ok(Json(WhoPage {
        items: holders.members,
        next_cursor,
        count: holders.count,
        revision: state.revision(),
    }))
}

//! `GET /api/v1/changes?after=REV`: every change of effective membership after a
//! revision, oldest first (admins).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use roster_model::{ChangeRecord, Revision};
use roster_ops::access;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{position_cursor, ApiQuery, Auth, PageQuery};
use super::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new().route("/changes", get(list))
}

/// `?after=&limit=&cursor=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ChangesQuery {
    /// Changes of revisions after this one (0 by default: from the start; never
    /// negative).
    #[param(minimum = 0)]
    pub after: Option<Revision>,
    /// Page size (1 to 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`; takes precedence over `after`.
    pub cursor: Option<String>,
}

/// A page of the change log.
#[derive(Serialize, ToSchema)]
pub struct ChangesPage {
    /// Changes, oldest first.
    items: Vec<ChangeRecord>,
    /// Pass as `cursor` for more; `null` when this page reached the end.
    next_cursor: Option<String>,
    /// The revision this server has applied: a reader that has seen every change up to
    /// here can next ask with `after` set to it.
    revision: Revision,
}

/// Lists changes of effective membership after a revision.
#[utoipa::path(get, operation_id = "changes_list", path = "/api/v1/changes", tag = "changes", params(ChangesQuery),
    responses((status = 200, body = ChangesPage), (status = "4XX", body = super::Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(app): State<AppState>,
    auth: Auth,
    ApiQuery(query): ApiQuery<ChangesQuery>,
) -> Result<Json<ChangesPage>, ApiError> {
    let revision = {
        let state = auth.handle.read();
        access::require_admin(&auth.ctx(&state), "only admins read the change log")?;
        state.revision()
    };
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    };
    let limit = page.limit()?;
    if query.after.is_some_and(|after| after < 0) {
        return Err(ApiError::invalid(
            Some("after".into()),
            "after is a revision: 0 or more",
        ));
    }
    let after = page
        .cursor_position()?
        .unwrap_or((query.after.unwrap_or(0), i32::MAX));
    let fetch = u32::try_from(limit + 1).unwrap_or(u32::MAX);
    let mut items = app
        .roster
        .store()
        .changes_after(auth.workspace, after, fetch)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let revision = resume_revision(query.after.unwrap_or(0), revision, &items, limit);
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|c| position_cursor(c.revision, c.seq))
    } else {
        None
    };
    Ok(Json(ChangesPage {
        items,
        next_cursor,
        revision,
    }))
}

/// The revision a reader of this page has seen every change up to, so that asking next
/// with `after` set to it neither repeats nor skips one. `fetched` holds the page's
/// `limit` changes and, if there are more, the first of the next page.
///
/// The changes come from the store, which may hold revisions this server has not applied
/// yet (another server wrote them a moment ago), so a complete page vouches for the later
/// of the server's revision and its own last change. Revisions commit in order (each
/// write holds the workspace's row until it commits), so no earlier one can appear later.
/// A page cut short vouches only for the revisions it holds whole: its last revision,
/// less one when that revision goes on past the page.
fn resume_revision(
    after: Revision,
    applied: Revision,
    fetched: &[ChangeRecord],
    limit: usize,
) -> Revision {
    let last = fetched.get(..limit).unwrap_or(fetched).last();
    match (last, fetched.get(limit)) {
        (Some(last), Some(next)) if next.revision == last.revision => last.revision - 1,
        (Some(last), Some(_)) => last.revision,
        (Some(last), None) => applied.max(last.revision),
        (None, _) => applied,
    }
    .max(after)
}

#[cfg(test)]
mod tests {
    use roster_model::{ChangeKind, ChangeRecord};

    use super::resume_revision;

    fn change(revision: i64, seq: i32) -> ChangeRecord {
        ChangeRecord {
            revision,
            seq,
            group_id: uuid::Uuid::nil(),
            member_id: Some(uuid::Uuid::nil()),
            role_id: None,
            change: ChangeKind::Added,
            cause: "manual".into(),
            at: roster_model::from_micros(0),
        }
    }

    #[test]
    fn a_complete_page_vouches_for_its_last_change_even_past_this_server() {
        let page = [change(11, 0), change(12, 0), change(12, 1)];
        assert_eq!(
            resume_revision(10, 11, &page, 100),
            12,
            "the store is ahead"
        );
        assert_eq!(
            resume_revision(10, 15, &page, 100),
            15,
            "the server is ahead"
        );
        assert_eq!(resume_revision(10, 15, &[], 100), 15);
        assert_eq!(
            resume_revision(20, 15, &[], 100),
            20,
            "never behind `after`"
        );
    }

    #[test]
    fn a_page_cut_short_vouches_only_for_whole_revisions() {
        let fetched = [change(11, 0), change(12, 0), change(12, 1)];
        assert_eq!(
            resume_revision(10, 30, &fetched, 2),
            11,
            "revision 12 goes on"
        );
        let fetched = [change(11, 0), change(12, 0), change(13, 0)];
        assert_eq!(resume_revision(10, 30, &fetched, 2), 12);
        let fetched = [change(11, 0), change(11, 1)];
        assert_eq!(resume_revision(10, 30, &fetched, 1), 10);
    }
}

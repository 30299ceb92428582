//! The SCIM 2.0 service provider at `/scim/v2` (RFC 7643, RFC 7644), for identity
//! providers such as Okta and Microsoft Entra ID.
//!
//! The protocol itself (filters, PATCH, schemas, projection) is `roster-scim`; what a
//! SCIM write does to Roster is `roster_ops::scim`. This module is the wiring: SCIM
//! tokens ([`wire`]), discovery, the two resource types, lists and `/Bulk`.

mod bulk;
mod discovery;
mod list;
mod resources;
pub mod wire;

use axum::http::HeaderMap;
use axum::routing::{any, get, post};
use axum::Router;
use roster_scim::ScimError;

use crate::http::AppState;
use resources::Kind;
use wire::{Body, Fail, ScimAuth, ScimPath, ScimQuery};

pub use bulk::MAX_BULK_COST;
pub use discovery::MAX_BULK_OPERATIONS;
pub use list::{MAX_SCAN_COST, RENDER_COST};

/// The routes below `/scim/v2`.
pub fn routes() -> Router<AppState> {
    let mut router = Router::new()
        .route("/ServiceProviderConfig", get(discovery::config))
        .route("/ResourceTypes", get(discovery::list_resource_types))
        .route("/ResourceTypes/{name}", get(discovery::resource_type))
        .route("/Schemas", get(discovery::list_schemas))
        .route("/Schemas/{id}", get(discovery::schema))
        .route("/Me", any(discovery::me))
        .route("/Bulk", post(bulk::bulk))
        .route("/.search", post(bulk::search_root));
    for (base, kind) in [("/Users", Kind::User), ("/Groups", Kind::Group)] {
        router = router
            .route(
                base,
                get(move |auth: ScimAuth, query: ScimQuery| resources::list(auth, kind, query))
                    .post(move |auth: ScimAuth, query: ScimQuery, body: Body| {
                        resources::create(auth, kind, query, body)
                    }),
            )
            .route(
                &format!("{base}/.search"),
                post(move |auth: ScimAuth, body: Body| resources::search(auth, kind, body)),
            )
            .route(
                &format!("{base}/{{id}}"),
                get(
                    move |auth: ScimAuth, ScimPath(id): ScimPath, query: ScimQuery| {
                        resources::show(auth, kind, id, query)
                    },
                )
                .put(
                    move |auth: ScimAuth,
                          ScimPath(id): ScimPath,
                          headers: HeaderMap,
                          query: ScimQuery,
                          body: Body| {
                        resources::replace(auth, kind, id, headers, query, body)
                    },
                )
                .patch(
                    move |auth: ScimAuth,
                          ScimPath(id): ScimPath,
                          headers: HeaderMap,
                          query: ScimQuery,
                          body: Body| {
                        resources::modify(auth, kind, id, headers, query, body)
                    },
                )
                .delete(
                    move |auth: ScimAuth, ScimPath(id): ScimPath, headers: HeaderMap| {
                        resources::remove(auth, kind, id, headers)
                    },
                ),
            );
    }
    router
        .fallback(|| async { Fail(ScimError::status(404, "no such SCIM endpoint")) })
        .method_not_allowed_fallback(|| async {
            Fail(ScimError::status(
                405,
                "this endpoint does not take that method",
            ))
        })
}

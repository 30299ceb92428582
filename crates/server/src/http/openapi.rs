//! The OpenAPI 3 document, generated from the handlers' annotations and the types they
//! exchange, served at `/api/v1/openapi.json`.

use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    access, audit, changes, groups, invitations, members, properties, roles, rules, scim_admin,
    tokens, workspace,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Roster", description = "Self-hosted access control: members, groups, roles and checks."),
    paths(
        members::list, members::create, members::show, members::update,
        properties::list, properties::create, properties::show, properties::update, properties::delete,
        groups::list, groups::create, groups::show, groups::update, groups::remove,
        groups::members, groups::add_member, groups::remove_member,
        tokens::list, tokens::create, tokens::revoke,
        scim_admin::list, scim_admin::create, scim_admin::revoke, scim_admin::show_mapping, scim_admin::set_mapping,
        scim_admin::list_links, scim_admin::link, scim_admin::unlink,
        invitations::create, invitations::list, invitations::show, invitations::revoke, invitations::resend, invitations::accept,
        audit::list,
        changes::list,
        rules::preview,
        roles::list, roles::create, roles::show, roles::update, roles::remove, roles::object_types,
        roles::group_roles, roles::assign, roles::revoke,
        access::check, access::explain, access::who,
        workspace::show,
    ),
    components(schemas(roster_model::Member, roster_model::Group, roster_model::PropertyDef, roster_model::Role, roster_model::Grant, super::Problem)),
    modifiers(&Bearer),
    security(("bearer" = [])),
)]
struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document, built and serialised once per process: it is served without a token,
/// and building it costs milliseconds of an async worker each time.
pub async fn document() -> axum::response::Response {
    static DOCUMENT: std::sync::LazyLock<axum::body::Bytes> = std::sync::LazyLock::new(|| {
        serde_json::to_vec(&ApiDoc::openapi())
            .map(axum::body::Bytes::from)
            .unwrap_or_default()
    });
    (
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        DOCUMENT.clone(),
    )
        .into_response()
}

//! SCIM 2.0 (RFC 7643, RFC 7644) as a pure library: the protocol, with no knowledge of
//! Roster's members or groups and no I/O. The service provider in `roster-server` maps
//! Roster's objects to resources as JSON and back, and uses this crate for everything the
//! RFCs define on resources as such.
//!
//! - [`filter`]: the filter language of RFC 7644 §3.4.2.2, parsed with byte offsets and
//!   printed back; also what identity providers send beyond the RFC (operators in any
//!   case, `emails[type eq "work"].value eq "…"` as Entra ID writes it), and the `path`
//!   of PATCH operations ([`parse_path`]).
//! - [`schema`]: the User, Enterprise User and Group schemas as data, with Roster's own
//!   extension built from a workspace's properties; served at `/Schemas`, consulted for
//!   case-exactness, plurality and mutability.
//! - [`eval`]: a filter evaluated against a resource.
//! - [`patch`]: PATCH operations applied to a resource, and the normalisation every
//!   written resource goes through (names in canonical case, read-only attributes and
//!   unknown schema URIs dropped, `"True"` made `true`).
//! - [`project`]: `attributes`/`excludedAttributes` and `sortBy`.
//! - [`error`]: errors in the SCIM error schema with their `scimType`.

pub mod error;
pub mod eval;
pub mod filter;
pub mod patch;
pub mod project;
pub mod schema;

pub use error::{ScimError, ScimType};
pub use filter::{parse, parse_path, AttrPath, CompareOp, Filter, FilterError, PatchPath, Value};

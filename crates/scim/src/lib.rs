//! SCIM 2.0 as a pure library, for the service provider of issue 6.
//!
//! [`filter`] is the filter language of RFC 7644 §3.4.2.2: [`parse`] turns a `filter`
//! query parameter into a [`Filter`] tree, or a [`FilterError`] with the byte offset at
//! fault (a `400` with `scimType: invalidFilter` at the edge); `Display` prints a tree
//! back to text that parses to the same tree. It also takes what identity providers send
//! beyond the RFC: operators and keywords in any case, and a value path followed by a
//! sub-attribute (`emails[type eq "work"].value eq "…"`, as Microsoft Entra ID sends it),
//! read as the equivalent `emails[type eq "work" and value eq "…"]`. [`parse_path`]
//! reads the `path` of a PATCH operation (`members[value eq "…"]`,
//! `emails[type eq "work"].value`, `urn:…:enterprise:2.0:User:department`).

pub mod filter;

pub use filter::{parse, parse_path, AttrPath, CompareOp, Filter, FilterError, PatchPath, Value};

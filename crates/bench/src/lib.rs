//! Roster's benchmarks: a seeded generator of a large workspace and the figures the
//! issues name, each printed with the machine it was measured on. Two binaries use it:
//! `roster-bench` (dynamic groups) and `access-bench` (the access check).

pub mod access;
pub mod cel;
pub mod generate;
pub mod report;
pub mod served;

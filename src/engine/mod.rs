//! The sync engine: field mapping, the three-way merge, and the pipeline
//! pull → record → merge → plan → apply.

pub mod mapping;
pub mod merge;
pub mod reconcile;
pub mod settings;

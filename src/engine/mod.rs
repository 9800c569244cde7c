//! The sync engine: field mapping, the three-way merge, and (as it lands) the pipeline
//! pull → record → merge → plan → apply.

pub mod mapping;
pub mod merge;

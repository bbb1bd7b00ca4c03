//! acd

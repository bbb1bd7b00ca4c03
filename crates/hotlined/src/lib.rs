//! The daemon's library face: only what is useful outside the binary. Today that is the
//! configuration parser, so the fuzz targets (`crates/fuzz-targets`) reach the same code that reads
//! `hotlined.toml`. Everything else stays private to the binary (`main.rs`).

pub mod acd_config;
pub mod config;
mod flood_config;
pub mod selfquery_config;
pub mod survey_config;
mod tls_config;
pub mod trunk_config;

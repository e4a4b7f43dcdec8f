//! Pleat's engine: Python import inference, module resolution, the target graph and its caches.
//!
//! The public façade is [`project::Project`] (one repository, indexed and kept up to date)
//! and [`loader::load`] (a project from disk through the parse cache). Everything at this
//! boundary is plain data in editor vocabulary; see `docs/architecture.md`.

pub mod children;
pub mod config;
pub mod disk;
pub mod distributions;
pub mod exec;
pub mod goals;
pub mod graph;
pub mod hash;
pub mod ini;
pub mod lmdb;
pub mod loader;
pub mod parse_cache;
pub mod privacy;
pub mod project;
pub mod python;
pub mod reapi;
pub mod resolves;
pub mod specs;
pub mod store;
pub mod tools;
pub mod tree;
pub mod vfs;

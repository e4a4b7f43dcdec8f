//! Pleat's engine: Python import inference, module resolution, the target graph and its caches.
//!
//! The public façade is plain data in editor vocabulary; see `docs/architecture.md`.

pub mod python;

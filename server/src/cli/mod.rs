//! The command-line goals, one file per group: the graph queries, the goals that run tools (and `lock`), the cache, the remote cache's status, the hidden debug commands, the workflow (export, run, repl, package, test --debug). `main` hands each command here; these files use `setup` and `output`, never each other's callers.

pub mod cache;
pub mod debug;
pub mod graph;
pub mod lock;
pub mod remote;
pub mod tools;
pub mod worker;
pub mod workflow;

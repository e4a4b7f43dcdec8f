//! The library face of the `pleat` package: only what is driven from outside the binary — the language server's frame checker (`transport`), which the fuzz targets in `fuzz/` feed arbitrary bytes. Everything else lives in the binary (`main.rs`).

// The file stays beside the rest of the language server, which uses it from here.
#[path = "lsp/transport.rs"]
pub mod transport;

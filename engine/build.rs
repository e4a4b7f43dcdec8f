//! Build script: hashes the import parser's source and the grammar version into `PLEAT_PARSER_HASH`, so a parser change invalidates cached parse results.

use std::path::Path;

fn main() {
    let mut hasher = blake3::Hasher::new();
    let parser = "src/python/imports.rs";
    println!("cargo:rerun-if-changed={parser}");
    if let Ok(text) = std::fs::read(parser) {
        hasher.update(&text);
    }
    // The grammar and tree-sitter versions as locked.
    let lock = Path::new("../Cargo.lock");
    println!("cargo:rerun-if-changed=../Cargo.lock");
    if let Ok(text) = std::fs::read_to_string(lock) {
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if line.starts_with("name = \"tree-sitter") {
                hasher.update(line.as_bytes());
                if let Some(version) = lines.next() {
                    hasher.update(version.as_bytes());
                }
            }
        }
    }
    let hash = hasher.finalize().to_hex();
    println!("cargo:rustc-env=PLEAT_PARSER_HASH={}", &hash[..16]);
}

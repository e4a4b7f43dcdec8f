//! Hidden commands for benchmarks: the tree-sitter parsing floor, and timing one-file incremental updates.

use std::path::PathBuf;
use std::time::Instant;

use clap::Subcommand;
use engine::project::SourceFile;
use std::sync::Arc;

use engine::python::imports::{Edit, IncrementalParser, ParseOptions, new_parser};
use engine::vfs::FileStat;
use rayon::prelude::*;

use crate::output::Failure;
use crate::setup::Setup;

#[derive(Subcommand, Debug)]
pub enum DebugCommand {
    /// Walk DIR, read and tree-sitter-parse every Python file on N threads (the floor a
    /// cold graph build cannot beat).
    ParseAll {
        dir: PathBuf,
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Load the project, then edit FILE in memory REPEAT times, each time updating the
    /// graph and computing the affected tests; print the time per update.
    Incremental {
        file: String,
        #[arg(long, default_value_t = 50)]
        repeat: usize,
    },
    /// Store a tree of FILES small files, then materialise it REPEAT times into fresh
    /// folders; print the median and max time of one materialisation.
    Materialize {
        dir: PathBuf,
        #[arg(long, default_value_t = 1000)]
        files: usize,
        #[arg(long, default_value_t = 20)]
        repeat: usize,
    },
    /// Write random blobs (small and large) and action results into the store in DIR
    /// until killed: the writer the crash-safety test kills with SIGKILL. With --count,
    /// write that many, read each back, and exit 1 if one comes back different.
    StoreWriter {
        dir: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        count: Option<usize>,
    },
}

pub fn run(setup: &Setup, command: &DebugCommand) -> Result<u8, Failure> {
    match command {
        DebugCommand::ParseAll { dir, threads } => parse_all(dir, *threads),
        DebugCommand::Incremental { file, repeat } => incremental(setup, file, *repeat),
        DebugCommand::StoreWriter { dir, seed, count } => store_writer(dir, *seed, *count),
        DebugCommand::Materialize { dir, files, repeat } => materialize(dir, *files, *repeat),
    }
}

fn parse_all(dir: &std::path::Path, threads: usize) -> Result<u8, Failure> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| Failure::usage(format!("cannot start {threads} threads: {e}")))?;
    let started = Instant::now();
    let walk = engine::vfs::walk(dir, &globset::GlobSet::empty());
    let nodes: usize = pool.install(|| {
        walk.python
            .par_iter()
            .map_init(new_parser, |parser, file| {
                let Ok(bytes) = std::fs::read(dir.join(&file.path)) else { return 0 };
                parser.parse(&bytes, None).map_or(0, |tree| tree.root_node().child_count() as usize)
            })
            .sum()
    });
    println!(
        "parsed {} files in {:.1} ms ({} top-level nodes)",
        walk.python.len(),
        started.elapsed().as_secs_f64() * 1000.0,
        nodes
    );
    Ok(0)
}

fn incremental(setup: &Setup, file: &str, repeat: usize) -> Result<u8, Failure> {
    let mut project = setup.load()?;
    let Some(id) = project.id(file) else {
        return Err(Failure::usage(format!(
            "{file} is not a Python file of the project; give a root-relative path"
        )));
    };
    let original = std::fs::read(project.root.join(file))
        .map_err(|e| Failure::usage(format!("cannot read {file}: {e}")))?;
    let options = ParseOptions {
        string_imports: project.config.string_imports,
        string_imports_min_dots: project.config.string_imports_min_dots,
    };
    // As an editor does: one parser per open document, re-parsing edits incrementally.
    let mut parser = IncrementalParser::new(options);
    parser.parse(&original);
    let mut previous = original.clone();
    let mut times = Vec::with_capacity(repeat);
    let mut parse_times = Vec::with_capacity(repeat);
    let mut affected = 0;
    for i in 0..repeat {
        // Alternate between adding an import line in the middle and the original, so
        // edges really change each time.
        let mut content = original.clone();
        if i % 2 == 0 {
            let middle = content.len() / 2;
            let at =
                content[middle..].iter().position(|b| *b == b'\n').map_or(content.len(), |p| middle + p + 1);
            content.splice(at..at, b"import os.path  # edited\n".iter().copied());
        }
        // The editor is told the edit; finding it here is not part of the time.
        let edit = Edit::between(&previous, &content);
        let started = Instant::now();
        let digest = *blake3::hash(&content).as_bytes();
        parser.edit(&edit);
        let parsed = parser.parse(&content);
        parse_times.push(started.elapsed().as_secs_f64() * 1e6);
        previous = content;
        let source =
            SourceFile { path: file.to_owned(), digest, stat: FileStat::default(), parsed: Arc::new(parsed) };
        project.set_file(source).map_err(|e| Failure::usage(e.to_string()))?;
        affected = project.affected_tests(&[id]).len();
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    let median = times.get(times.len() / 2).copied().unwrap_or(0.0);
    let max = times.last().copied().unwrap_or(0.0);
    parse_times.sort_by(f64::total_cmp);
    let parse = parse_times.get(parse_times.len() / 2).copied().unwrap_or(0.0);
    println!(
        "{repeat} updates of {file} ({} files, {affected} affected tests): median {median:.0} µs, max {max:.0} µs (hash and parse: median {parse:.0} µs, {} top-level statements walked)",
        project.len(),
        parser.rewalked()
    );
    Ok(0)
}

fn store_writer(dir: &std::path::Path, seed: u64, count: Option<usize>) -> Result<u8, Failure> {
    use engine::store::{LARGE_BLOB, Store, StoreOptions};
    let store = Store::open(&StoreOptions::new(dir)).map_err(|e| Failure::usage(e.to_string()))?;
    for report in store.take_reports() {
        eprintln!("warning: {report}");
    }
    let mut state = seed.max(1);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    println!("writing");
    let mut written = Vec::new();
    while count.is_none_or(|count| written.len() < count) {
        let roll = next();
        // One blob in eight is large (a file), the rest small (LMDB).
        let size =
            if roll % 8 == 0 { LARGE_BLOB as usize + (roll % 4096) as usize } else { (roll % 2048) as usize };
        let fill = next();
        let bytes: Vec<u8> =
            (0..size).map(|i| (fill.wrapping_add(i as u64 * 2_654_435_761) >> 24) as u8).collect();
        let digest = store.put(&bytes).map_err(|e| Failure::usage(e.to_string()))?;
        if roll % 5 == 0 {
            store
                .put_action(&digest, &bytes[..bytes.len().min(64)])
                .map_err(|e| Failure::usage(e.to_string()))?;
        }
        if count.is_some() {
            written.push((digest, bytes));
        }
    }
    // Read back: what the store returns must be what was written (or, for the action
    // results, what the last writer recorded for that digest).
    let mut wrong = 0;
    for (digest, bytes) in &written {
        let back = store.get(digest).map_err(|e| Failure::usage(e.to_string()))?;
        wrong += usize::from(back.as_deref() != Some(bytes.as_slice()));
    }
    for report in store.take_reports() {
        eprintln!("warning: {report}");
    }
    println!("read back {} blobs, {wrong} different", written.len());
    Ok(u8::from(wrong > 0))
}

fn materialize(dir: &std::path::Path, files: usize, repeat: usize) -> Result<u8, Failure> {
    use engine::store::{Store, StoreOptions};
    use engine::tree::{self, Node};
    let store =
        Store::open(&StoreOptions::new(dir.join("store"))).map_err(|e| Failure::usage(e.to_string()))?;
    let mut entries = std::collections::BTreeMap::new();
    for i in 0..files {
        // 1,000 files over 50 folders, 1-3 KiB each, as a source tree has.
        let text = format!("# file {i}\n").repeat(100 + i % 200);
        let digest = store.put(text.as_bytes()).map_err(|e| Failure::usage(e.to_string()))?;
        entries.insert(
            format!("pkg{}/sub{}/mod_{i}.py", i % 10, i % 5),
            Node::File { digest, executable: false },
        );
    }
    let root = tree::from_entries(&store, &entries).map_err(|e| Failure::usage(e.to_string()))?;
    let mut times = Vec::with_capacity(repeat);
    for i in 0..repeat {
        let target = dir.join(format!("out-{i}"));
        let _ = std::fs::remove_dir_all(&target);
        std::fs::create_dir_all(&target).map_err(|e| Failure::usage(e.to_string()))?;
        let started = Instant::now();
        engine::exec::local::materialize(&store, &root, &target)
            .map_err(|e| Failure::usage(e.to_string()))?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        let _ = std::fs::remove_dir_all(&target);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "materialised {files} files {repeat} times: median {:.1} ms, max {:.1} ms",
        times.get(times.len() / 2).copied().unwrap_or(0.0),
        times.last().copied().unwrap_or(0.0)
    );
    Ok(0)
}

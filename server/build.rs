//! Build script: the git commit the binary is built from (`PLEAT_GIT_COMMIT`: short hash and commit date; the variable itself when set, as scripts/release.sh sets it; else "commit unknown" outside a git checkout of this repository, as from the sdist), for `pleat --version`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git").arg("-C").arg(root).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    Some(text.trim().to_owned())
}

/// The commit, when `root` is the top of a git checkout (an sdist unpacked inside some other
/// repository must not take that repository's commit), and the files whose change means a new
/// commit was checked out or made.
fn commit(root: &Path) -> Option<(String, Vec<PathBuf>)> {
    let top = PathBuf::from(git(root, &["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != root.canonicalize().ok()? {
        return None;
    }
    let described = git(root, &["log", "-1", "--format=%h %cs"])?;
    let absolute = |dir: String| {
        let dir = PathBuf::from(dir);
        if dir.is_absolute() { dir } else { root.join(dir) }
    };
    // In a worktree HEAD is in its own git folder and the branches in the common one.
    let git_dir = absolute(git(root, &["rev-parse", "--git-dir"])?);
    let common = absolute(git(root, &["rev-parse", "--git-common-dir"])?);
    let mut watched = vec![git_dir.join("HEAD"), common.join("packed-refs")];
    if let Some(branch) = git(root, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(common.join(branch));
    }
    Some((described, watched))
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // scripts/release.sh names the commit when maturin builds the wheel from the sdist, which
    // holds no git folder.
    println!("cargo:rerun-if-env-changed=PLEAT_GIT_COMMIT");
    if let Some(given) = std::env::var("PLEAT_GIT_COMMIT").ok().filter(|given| !given.is_empty()) {
        println!("cargo:rustc-env=PLEAT_GIT_COMMIT={given}");
        return;
    }
    let manifest =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest.parent().unwrap_or(&manifest).to_path_buf();
    let described = match commit(&root) {
        Some((described, watched)) => {
            for path in watched.iter().filter(|path| path.exists()) {
                println!("cargo:rerun-if-changed={}", path.display());
            }
            described
        }
        None => "commit unknown".to_owned(),
    };
    println!("cargo:rustc-env=PLEAT_GIT_COMMIT={described}");
}

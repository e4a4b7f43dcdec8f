//! Tool environments built for real from PyPI (isort: small, pure Python), with venv + pip and with uv.

use std::cell::RefCell;

use super::*;

fn envs(dir: &Path, uv: Option<PathBuf>) -> ToolEnvs {
    let mut envs = ToolEnvs::new(dir, Interpreter::find(None).unwrap());
    envs.uv = uv;
    envs
}

fn version_of(env: &ToolEnv) -> String {
    let output = Command::new(&env.python).args(["-m", &env.module, "--version"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn check_build_and_reuse(envs: &ToolEnvs) {
    let spec = ToolSpec::builtin("isort").unwrap();
    let messages = RefCell::new(Vec::new());
    let env = envs.ensure(&spec, &mut |m| messages.borrow_mut().push(m.to_owned())).unwrap();
    assert_eq!(messages.borrow().len(), 1, "a first build says so");
    assert!(messages.borrow()[0].contains("building the isort environment"));
    assert!(version_of(&env).contains("9.0.2"), "{}", version_of(&env));
    // Reused: no progress, same place.
    let again = envs.ensure(&spec, &mut |m| messages.borrow_mut().push(m.to_owned())).unwrap();
    assert_eq!(again, env);
    assert_eq!(messages.borrow().len(), 1);
    // Read-only (checked by mode: the tests may run as root, who writes anyway).
    assert!(std::fs::metadata(env.root.join("lib")).unwrap().permissions().readonly());
    assert!(std::fs::metadata(&env.python).is_ok());
    // Another requirement set is another environment.
    let mut other = spec.clone();
    other.requirements.push_str("\n# changed\n");
    assert_ne!(envs.key(&other), env.key);
}

#[test]
fn interpreters_are_found_and_identified() {
    let python = Interpreter::find(None).unwrap();
    assert!(python.version.starts_with("3."), "{python:?}");
    assert!(python.identity().contains(&python.version));
    let error = Interpreter::find(Some(Path::new("/no/python"))).unwrap_err();
    assert!(error.to_string().contains("install python3"), "{error}");
}

#[test]
fn interpreter_identity_is_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let first = Interpreter::find_cached(None, dir.path()).unwrap();
    assert_eq!(std::fs::read_dir(dir.path().join("interpreters")).unwrap().count(), 1);
    let second = Interpreter::find_cached(None, dir.path()).unwrap();
    assert_eq!(first, second);
    assert_eq!(first, Interpreter::find(None).unwrap());
}

#[test]
fn unknown_tools_name_the_known_ones() {
    let error = ToolSpec::builtin("nosuchtool").unwrap_err().to_string();
    assert!(error.contains("pytest") && error.contains("[tool.pleat.tools.nosuchtool]"), "{error}");
    assert_eq!(ToolSpec::builtin_names().count(), 11);
}

#[test]
fn builds_with_venv_and_pip_once() {
    let dir = tempfile::tempdir().unwrap();
    check_build_and_reuse(&envs(dir.path(), None));
}

#[test]
fn builds_with_uv_once() {
    // uv from PyPI into a scratch virtualenv: the tools' installer when it is present.
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("uv-venv");
    let python = Interpreter::find(None).unwrap().path;
    assert!(Command::new(&python).args(["-m", "venv"]).arg(&venv).status().unwrap().success());
    let pip = Command::new(venv.join("bin/python"))
        .args(["-m", "pip", "install", "-q", "--disable-pip-version-check", "uv==0.13.8"])
        .output()
        .unwrap();
    assert!(pip.status.success(), "installing uv from PyPI failed: {}", String::from_utf8_lossy(&pip.stderr));
    check_build_and_reuse(&envs(&dir.path().join("cache"), Some(venv.join("bin/uv"))));
}

#[test]
fn a_bad_requirement_set_fails_clearly_and_leaves_nothing_half_built() {
    let dir = tempfile::tempdir().unwrap();
    let envs = envs(dir.path(), None);
    let mut spec = ToolSpec::builtin("isort").unwrap();
    spec.requirements =
        "isort==9.0.2 --hash=sha256:0000000000000000000000000000000000000000000000000000000000000000\n"
            .into();
    let error = envs.ensure(&spec, &mut |_| {}).unwrap_err().to_string();
    assert!(error.contains("building the isort environment failed"), "{error}");
    let root = envs.dir.join(format!("isort-{}", &envs.key(&spec).hex()[..16]));
    assert!(!root.join(COMPLETE).exists(), "a failed build is not marked complete");
}

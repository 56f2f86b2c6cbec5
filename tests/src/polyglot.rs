//! The plugins written in other languages (`examples/`), built with their
//! own toolchains the way their READMEs say: the JavaScript event filter
//! with `npm ci` and `npm run build` (componentize-js), the Python chat
//! responder with `build.sh` (componentize-py). A missing toolchain is a
//! failure with the install command, never a skip. Each example is built
//! once per test process.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::readme;

/// A built example plugin: its component and its manifest.
#[derive(Debug, Clone)]
pub struct Example {
    /// The component file.
    pub wasm: PathBuf,
    /// The manifest beside its sources.
    pub manifest: PathBuf,
}

impl Example {
    /// The component's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.wasm)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", self.wasm.display()))
    }

    /// The manifest's text.
    pub fn manifest_text(&self) -> String {
        std::fs::read_to_string(&self.manifest)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", self.manifest.display()))
    }
}

/// The JavaScript event filter, built (`npm ci` first when its
/// `node_modules` is missing).
pub fn js_event_filter() -> &'static Example {
    static BUILT: OnceLock<Example> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = readme::root().join("examples/js-event-filter");
        require("npm", &["--version"], "install Node.js 20 and npm");
        if !dir.join("node_modules").is_dir() {
            run(&dir, "npm", &["ci", "--no-audit", "--no-fund"]);
        }
        run(&dir, "npm", &["run", "build"]);
        example(&dir, "js-event-filter")
    })
}

/// The Python chat responder, built with `build.sh`.
pub fn py_chat_responder() -> &'static Example {
    static BUILT: OnceLock<Example> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = readme::root().join("examples/py-chat-responder");
        require(
            "componentize-py",
            &["--version"],
            "pip install componentize-py==0.25.1",
        );
        run(&dir, "./build.sh", &[]);
        example(&dir, "py-chat-responder")
    })
}

fn example(dir: &Path, name: &str) -> Example {
    let wasm = dir.join("dist").join(format!("{name}.wasm"));
    assert!(
        wasm.is_file(),
        "the build of {name} made no component at {}",
        wasm.display()
    );
    Example {
        wasm,
        manifest: dir.join(format!("{name}.toml")),
    }
}

/// Fails with `install` when `program` does not run.
fn require(program: &str, args: &[&str], install: &str) {
    let ran = Command::new(program).args(args).output();
    assert!(
        ran.as_ref().is_ok_and(|o| o.status.success()),
        "`{program}` is needed to build the example plugins and does not run ({}): {install}",
        match &ran {
            Ok(o) => format!("exit {}", o.status),
            Err(e) => e.to_string(),
        }
    );
}

/// Runs `program args` in `dir` and fails with its output when it fails.
fn run(dir: &Path, program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} in {}: {e}", dir.display()));
    assert!(
        out.status.success(),
        "`{program} {}` in {} failed ({}):\n{}\n{}",
        args.join(" "),
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

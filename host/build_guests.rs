//! Builds guest plugin crates for `wasm32-wasip2` from a build script.
//!
//! Shared by `host/build.rs` (the embedded default plugins) and
//! `tests/build.rs` (the misbehaving test guests). The nested cargo gets its
//! own target dir (sharing the outer one deadlocks a release build) and an
//! environment cleared of the outer build's flags.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The wasm target every guest is built for.
const TARGET: &str = "wasm32-wasip2";
/// The cargo profile guests are built with (see the workspace Cargo.toml).
const PROFILE: &str = "guest";

/// One guest crate: its package name and directory.
pub(crate) struct Guest {
    pub(crate) package: String,
    pub(crate) dir: PathBuf,
}

impl Guest {
    /// The component cargo built for this guest in `out` (a library's
    /// name has underscores, a binary's keeps its dashes).
    pub(crate) fn wasm_in(&self, out: &Path) -> PathBuf {
        let lib = out.join(format!("{}.wasm", self.package.replace('-', "_")));
        if lib.is_file() {
            lib
        } else {
            out.join(format!("{}.wasm", self.package))
        }
    }
}

/// Every crate directly under `parent` (directories holding a Cargo.toml),
/// sorted by name.
pub(crate) fn guests_under(parent: &Path) -> Vec<Guest> {
    let mut guests: Vec<Guest> = std::fs::read_dir(parent)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", parent.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .map(|dir| Guest {
            package: dir.file_name().unwrap().to_string_lossy().into_owned(),
            dir,
        })
        .collect();
    guests.sort_by(|a, b| a.package.cmp(&b.package));
    guests
}

/// Builds `guests` and returns the directory holding their `.wasm` files.
pub(crate) fn build(workspace: &Path, guests: &[Guest]) -> PathBuf {
    for g in guests {
        println!("cargo:rerun-if-changed={}", g.dir.display());
    }
    for p in ["wit", "sdk", "Cargo.lock", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", workspace.join(p).display());
    }
    ensure_target();
    let target_dir = workspace.join("target").join("guests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args([
            "build",
            "--target",
            TARGET,
            "--profile",
            PROFILE,
            "--target-dir",
        ])
        .arg(&target_dir);
    for g in guests {
        cmd.args(["-p", &g.package]);
    }
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "CARGO_PROFILE_RELEASE_DEBUG",
    ] {
        cmd.env_remove(var);
    }
    // A line of the nested cargo starting with `cargo:` must not reach our
    // stdout, where it would be read as a build-script directive.
    cmd.stdout(Stdio::from(std::io::stderr()));
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the wasm plugins: {e}"));
    if !status.success() {
        panic!(
            "building the wasm plugins ({}) for {TARGET} failed; see the cargo output above",
            guests
                .iter()
                .map(|g| g.package.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    target_dir.join(TARGET).join(PROFILE)
}

/// Installs the wasm target with rustup when it is missing.
fn ensure_target() {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == TARGET)
        })
        .unwrap_or(false);
    if installed {
        return;
    }
    let added = Command::new("rustup")
        .args(["target", "add", TARGET])
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !added {
        panic!(
            "the Rust target {TARGET} is not installed and `rustup target add {TARGET}` failed; \
             install it by hand and build again"
        );
    }
}

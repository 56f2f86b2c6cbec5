//! `gateway plugin build`: builds a plugin crate for `wasm32-wasip2` with
//! its release profile (the scaffold tunes it for size), adding the target
//! with rustup when it is missing, puts the component and its manifest in
//! the crate's `dist/` as `NAME.wasm` and `NAME.toml` (the names the
//! plugins directory wants), and ends with `plugin check`'s verdict.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, Result, bail};

use crate::config::Config;

/// The target plugins are built for.
const TARGET: &str = "wasm32-wasip2";

/// A built plugin, in the crate's `dist/`.
pub(super) struct Built {
    /// The plugin's name: the package name.
    pub(super) name: String,
    /// `dist/NAME.wasm`.
    pub(super) wasm: PathBuf,
    /// `dist/NAME.toml`, when the crate has a manifest `NAME.toml`.
    pub(super) manifest: Option<PathBuf>,
}

/// Builds the crate in `dir`, prints the check's verdict, and fails when
/// the build fails or the gateway would not load the result.
pub(super) async fn build(config: &Config, dir: &Path) -> Result<ExitCode> {
    Ok(match build_and_check(config, dir).await? {
        Some(_) => ExitCode::SUCCESS,
        None => ExitCode::FAILURE,
    })
}

/// Builds the crate in `dir` and checks the component: what was built when
/// the gateway would load it, none (after printing why) when not.
pub(super) async fn build_and_check(config: &Config, dir: &Path) -> Result<Option<Built>> {
    let dir = dir.to_owned();
    let built = tokio::task::spawn_blocking(move || compile(&dir)).await??;
    let size = std::fs::metadata(&built.wasm)?.len();
    println!(
        "built:    {} ({} KiB)",
        built.wasm.display(),
        size.div_ceil(1024)
    );
    let loads =
        super::plugin_check::verdict(config, built.wasm.clone(), built.manifest.clone()).await?;
    Ok(loads.then_some(built))
}

/// The package name in `dir/Cargo.toml`.
fn package_name(dir: &Path) -> Result<String> {
    let path = dir.join("Cargo.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("parsing {}", path.display()))?;
    table
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_owned)
        .with_context(|| format!("{} has no package name", path.display()))
}

/// The cargo to run: the one running us (`cargo run`), else `cargo`.
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs cargo on the crate and copies the component and manifest to `dist/`.
fn compile(dir: &Path) -> Result<Built> {
    let name = package_name(dir)?;
    ensure_target()?;
    let mut child = cargo()
        .args(["build", "--release", "--target", TARGET])
        .args([
            "--message-format",
            "json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(dir.join("Cargo.toml"))
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run cargo")?;
    let mut component = None;
    for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
        if let Some(wasm) = component_of(&line?) {
            component = Some(wasm);
        }
    }
    if !child.wait()?.success() {
        bail!("cargo could not build {}", dir.display());
    }
    let component =
        component.context("cargo built no cdylib: is `crate-type = [\"cdylib\"]` in [lib]?")?;
    let dist = dir.join("dist");
    std::fs::create_dir_all(&dist).with_context(|| format!("creating {}", dist.display()))?;
    let wasm = dist.join(format!("{name}.wasm"));
    std::fs::copy(&component, &wasm)
        .with_context(|| format!("copying {} to {}", component.display(), wasm.display()))?;
    let source_manifest = dir.join(format!("{name}.toml"));
    let manifest = dist.join(format!("{name}.toml"));
    let manifest = if source_manifest.is_file() {
        std::fs::copy(&source_manifest, &manifest)
            .with_context(|| format!("copying {}", source_manifest.display()))?;
        Some(manifest)
    } else {
        // A manifest left from an earlier build would be checked and
        // deployed with this one.
        let _ = std::fs::remove_file(&manifest);
        None
    };
    Ok(Built {
        name,
        wasm,
        manifest,
    })
}

/// The `.wasm` of a `cdylib` in one line of cargo's JSON messages.
fn component_of(line: &str) -> Option<PathBuf> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message["reason"] != "compiler-artifact" {
        return None;
    }
    let cdylib = message["target"]["kind"]
        .as_array()?
        .iter()
        .any(|k| k == "cdylib");
    if !cdylib {
        return None;
    }
    message["filenames"]
        .as_array()?
        .iter()
        .filter_map(|f| f.as_str())
        .find(|f| f.ends_with(".wasm"))
        .map(PathBuf::from)
}

/// Adds the wasm target with rustup when it is missing. Without rustup
/// there is nothing to add; cargo says whether the toolchain has it.
fn ensure_target() -> Result<()> {
    let Ok(listed) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    else {
        return Ok(());
    };
    let installed = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .any(|l| l.trim() == TARGET);
    if installed {
        return Ok(());
    }
    eprintln!("adding the Rust target {TARGET}");
    let added = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .context("cannot run rustup")?;
    if !added.success() {
        bail!("`rustup target add {TARGET}` failed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_component_among_cargo_messages() {
        let lib = r#"{"reason":"compiler-artifact","target":{"kind":["cdylib","rlib"]},"filenames":["/t/release/feed.wasm","/t/release/libfeed.rlib"]}"#;
        let dep = r#"{"reason":"compiler-artifact","target":{"kind":["lib"]},"filenames":["/t/release/deps/libserde.rlib"]}"#;
        assert_eq!(
            component_of(lib),
            Some(PathBuf::from("/t/release/feed.wasm"))
        );
        assert_eq!(component_of(dep), None);
        assert_eq!(
            component_of(r#"{"reason":"build-finished","success":true}"#),
            None
        );
        assert_eq!(component_of("not json"), None);
    }

    #[test]
    fn reads_the_package_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[package]\nname = \"my-feed\"\nversion = \"0.1.0\"\n",
        )
        .unwrap();
        assert_eq!(package_name(dir.path()).unwrap(), "my-feed");
        std::fs::write(dir.path().join("Cargo.toml"), "[workspace]\n").unwrap();
        assert!(package_name(dir.path()).is_err());
    }
}

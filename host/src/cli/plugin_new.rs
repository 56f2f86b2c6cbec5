//! `gateway plugin new`: scaffolds a plugin crate of one kind that builds
//! as it is: the SDK dependency, a `cdylib` library with a working example
//! and native tests against the SDK's fake host, and a commented manifest.
//!
//! The templates are real files under `host/templates/plugin/`, embedded
//! here; the end-to-end tests scaffold, build and load every kind.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::plugin::deploy::valid_name;
use crate::plugin::kind::PluginKind;

/// The crate manifest every kind shares.
const CARGO_TOML: &str = include_str!("../../templates/plugin/Cargo.toml");
/// The crate's `.gitignore`.
const GITIGNORE: &str = include_str!("../../templates/plugin/gitignore");
/// The workspace's lock file: a new crate starts with the dependency
/// versions the gateway's own plugins are built and tested with, so the
/// first build needs no registry index (cargo drops what it does not use).
const CARGO_LOCK: &str = include_str!("../../../Cargo.lock");
/// Where the SDK was when this gateway was built.
const BUILT_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk");

/// One kind's files: `src/lib.rs` and the manifest.
struct Template {
    lib: &'static str,
    manifest: &'static str,
}

fn template(kind: PluginKind) -> Template {
    match kind {
        PluginKind::PriceSource => Template {
            lib: include_str!("../../templates/plugin/price-source/lib.rs"),
            manifest: include_str!("../../templates/plugin/price-source/manifest.toml"),
        },
        PluginKind::OrderPoller => Template {
            lib: include_str!("../../templates/plugin/order-poller/lib.rs"),
            manifest: include_str!("../../templates/plugin/order-poller/manifest.toml"),
        },
        PluginKind::ChatResponder => Template {
            lib: include_str!("../../templates/plugin/chat-responder/lib.rs"),
            manifest: include_str!("../../templates/plugin/chat-responder/manifest.toml"),
        },
        PluginKind::EventFilter => Template {
            lib: include_str!("../../templates/plugin/event-filter/lib.rs"),
            manifest: include_str!("../../templates/plugin/event-filter/manifest.toml"),
        },
    }
}

/// Parses a kind as the CLI spells it (`price-source`, …).
pub(super) fn parse_kind(s: &str) -> Result<PluginKind, String> {
    PluginKind::ALL
        .into_iter()
        .find(|k| k.to_string() == s)
        .ok_or_else(|| {
            let all: Vec<String> = PluginKind::ALL.iter().map(ToString::to_string).collect();
            format!("unknown kind {s:?}; one of: {}", all.join(", "))
        })
}

/// The files of a new crate named `name`, with the SDK at `sdk`: (path
/// relative to the crate, contents).
fn files(kind: PluginKind, name: &str, sdk: &Path) -> Vec<(PathBuf, String)> {
    let t = template(kind);
    let env_name = name.to_ascii_uppercase().replace('-', "_");
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{NAME}}", &env_name)
            .replace(
                "\"{{sdk}}\"",
                &toml::Value::String(sdk.display().to_string()).to_string(),
            )
    };
    vec![
        ("Cargo.toml".into(), fill(CARGO_TOML)),
        ("Cargo.lock".into(), CARGO_LOCK.to_owned()),
        (".gitignore".into(), GITIGNORE.to_owned()),
        (format!("{name}.toml").into(), fill(t.manifest)),
        (PathBuf::from("src").join("lib.rs"), t.lib.to_owned()),
    ]
}

/// The SDK directory: `sdk` when given, else the one this gateway was
/// built from; absolute, so the crate builds wherever it is.
fn sdk_dir(sdk: Option<PathBuf>) -> Result<PathBuf> {
    let dir = sdk.unwrap_or_else(|| PathBuf::from(BUILT_SDK));
    let dir = std::fs::canonicalize(&dir).with_context(|| {
        format!(
            "the SDK is not at {}; give its directory with --sdk PATH",
            dir.display()
        )
    })?;
    if !dir.join("Cargo.toml").is_file() {
        bail!("{} has no Cargo.toml; is it the SDK?", dir.display());
    }
    Ok(dir)
}

/// Creates the crate at `path` (its last component names the crate and
/// the plugin) and prints what to do next.
pub(super) fn new(kind: PluginKind, path: &Path, sdk: Option<PathBuf>) -> Result<()> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .context("the path needs a last component: the plugin's name")?;
    if !(valid_name(name) && name.starts_with(|c: char| c.is_ascii_lowercase())) {
        bail!(
            "{name:?} cannot name a plugin crate: lowercase letters, digits, `-` and `_`, \
             starting with a letter, at most 64"
        );
    }
    if path.exists() {
        bail!("{} already exists", path.display());
    }
    let sdk = sdk_dir(sdk)?;
    for (file, text) in files(kind, name, &sdk) {
        let file = path.join(file);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
    }
    println!("created {kind} plugin `{name}` in {}", path.display());
    println!("  src/lib.rs       the plugin, with native tests (`cargo test`)");
    println!("  {name}.toml  its manifest: config, limits, allowed hosts");
    println!("next: gateway plugin build {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_parses_by_its_name() {
        for kind in PluginKind::ALL {
            assert_eq!(parse_kind(&kind.to_string()), Ok(kind));
        }
        assert!(parse_kind("price").unwrap_err().contains("price-source"));
    }

    #[test]
    fn fills_the_name_and_sdk() {
        let sdk = Path::new("/opt/gateway \"sdk\"");
        let files = files(PluginKind::OrderPoller, "my-orders", sdk);
        let cargo = &files
            .iter()
            .find(|(p, _)| p == Path::new("Cargo.toml"))
            .unwrap()
            .1;
        let parsed: toml::Table = cargo.parse().expect("the Cargo.toml is TOML");
        assert_eq!(parsed["package"]["name"].as_str(), Some("my-orders"));
        assert_eq!(
            parsed["dependencies"]["gateway-sdk"]["path"].as_str(),
            Some("/opt/gateway \"sdk\"")
        );
        assert!(
            parsed.contains_key("workspace"),
            "builds outside any workspace"
        );
        let manifest = &files
            .iter()
            .find(|(p, _)| p == Path::new("my-orders.toml"))
            .unwrap()
            .1;
        let manifest =
            crate::plugin::manifest::Manifest::parse(manifest).expect("a valid manifest");
        assert!(manifest.config.contains_key("interval_ms"));
        for (path, text) in &files {
            assert!(
                !text.contains("{{"),
                "{} has an unfilled placeholder",
                path.display()
            );
        }
    }

    #[test]
    fn refuses_a_bad_name_and_an_existing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let err = new(PluginKind::PriceSource, &dir.path().join("My Feed"), None).unwrap_err();
        assert!(err.to_string().contains("cannot name"), "{err}");
        std::fs::create_dir(dir.path().join("feed")).unwrap();
        let err = new(PluginKind::PriceSource, &dir.path().join("feed"), None).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
    }
}

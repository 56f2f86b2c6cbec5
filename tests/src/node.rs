//! The Node.js side of the tests in `tests/node/`: its directory, with its
//! npm dependencies (`npm ci`) installed when missing.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `tests/node`, with `package` (one of its dependencies) installed.
pub fn suite_with(package: &str) -> PathBuf {
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("node");
    if !suite.join("node_modules").join(package).is_dir() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&suite)
            .status()
            .expect("npm must be installed to run the tests in tests/node");
        assert!(status.success(), "npm ci failed in {}", suite.display());
    }
    suite
}

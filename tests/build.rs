//! Builds every test guest under `tests/guests/` and writes, for each, a
//! constant with the path of its component plus the `foreach_guest!` macro
//! that lists them all (wasmtime's test-programs pattern: a guest without a
//! test of the same name fails to compile).

#[path = "../host/build_guests.rs"]
mod build_guests;

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let workspace = Path::new(&manifest).parent().unwrap();
    let guests = build_guests::guests_under(&workspace.join("tests").join("guests"));
    let out_wasm = build_guests::build(workspace, &guests);
    let mut code = String::new();
    let mut names = Vec::new();
    for g in &guests {
        let ident = g.package.replace('-', "_");
        let path = g.wasm_in(&out_wasm);
        assert!(
            path.is_file(),
            "guest {} built no component at {}",
            g.package,
            path.display()
        );
        writeln!(code, "/// The component of test guest `{}`.", g.package).unwrap();
        writeln!(
            code,
            "pub const {}: &str = {:?};",
            ident.to_uppercase(),
            path.display().to_string()
        )
        .unwrap();
        names.push(ident);
    }
    writeln!(
        code,
        "/// Calls `$mac!(name)` for every test guest.\n#[macro_export]\nmacro_rules! foreach_guest {{\n    ($mac:ident) => {{\n{}    }};\n}}",
        names.iter().map(|n| format!("        $mac!({n});\n")).collect::<String>()
    )
    .unwrap();
    let out = std::env::var("OUT_DIR").unwrap();
    std::fs::write(Path::new(&out).join("guests.rs"), code).unwrap();
}

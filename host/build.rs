//! Builds the default plugins (`plugins/*`) to components and writes the
//! table that embeds them into the gateway binary.

#[path = "build_guests.rs"]
mod build_guests;

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let workspace = Path::new(&manifest).parent().unwrap();
    let guests = build_guests::guests_under(&workspace.join("plugins"));
    let out_wasm = build_guests::build(workspace, &guests);
    let out_dir = std::env::var("OUT_DIR").unwrap();
    let mut table = String::from(
        "/// The default plugins built with the gateway: (name, component bytes).\n\
         pub const EMBEDDED_PLUGINS: &[(&str, &[u8])] = &[\n",
    );
    for g in &guests {
        let built = g.wasm_in(&out_wasm);
        let copy = Path::new(&out_dir).join(format!("{}.wasm", g.package));
        std::fs::copy(&built, &copy)
            .unwrap_or_else(|e| panic!("cannot copy {}: {e}", built.display()));
        writeln!(
            table,
            "    ({:?}, include_bytes!({:?})),",
            g.package,
            copy.display().to_string()
        )
        .unwrap();
    }
    table.push_str("];\n");
    std::fs::write(Path::new(&out_dir).join("embedded_plugins.rs"), table).unwrap();
}

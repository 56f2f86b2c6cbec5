//! Test guest: a plain WASI command. It is a valid component but exports
//! `wasi:cli/run`, none of the plugin worlds, so the host must refuse it.

fn main() {
    println!("I am not a plugin");
}

// Builds the few lines of C that Rust cannot express soundly: setjmp and
// longjmp around each host-to-Wasm entry (see src/vm/helpers.c).
fn main() {
    println!("cargo:rerun-if-changed=src/vm/helpers.c");
    cc::Build::new().file("src/vm/helpers.c").warnings(true).compile("kiln-helpers");
}

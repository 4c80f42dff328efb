//! Links the firmware binary with the boot layout (boot/layout.ld): no C runtime, no libc,
//! static addresses. Only the `elastic-kernel` binary gets these flags.
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let boot = manifest.join("..").join("boot");
    let layout = boot.join("layout.ld");
    println!("cargo:rerun-if-changed={}", layout.display());
    println!("cargo:rerun-if-changed={}", boot.join("reset.s").display());
    for arg in [
        format!("-T{}", layout.display()),
        "-nostartfiles".into(),
        "-nostdlib".into(),
        "-static".into(),
        "-no-pie".into(),
        "-Wl,--build-id=none".into(),
        "-Wl,-z,max-page-size=4096".into(),
        "-Wl,-z,noexecstack".into(),
        // Any section the layout does not place is an error, not a silent surprise.
        "-Wl,--orphan-handling=error".into(),
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
}

//! Leaving the machine: QEMU's `isa-debug-exit` device at I/O port 0xF4 (under SEV-SNP,
//! the GHCB termination request).
//!
//! The value written is `code + 1` (see `elastic_core::exit` for the encoding and the table of
//! codes). Without the device the write is ignored, so the kernel then halts forever.

use elastic_core::exit::{ExitReason, debug_exit_value};

/// The debug-exit device's port (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`).
const DEBUG_EXIT_PORT: u16 = 0xF4;

/// Ends the run with the code for `reason`. Under SEV-SNP the run ends with a GHCB
/// termination request instead (reason set 3, the exit code as reason code; docs/snp.md),
/// since the debug-exit port is not a channel a confidential guest can rely on.
pub fn exit(reason: ExitReason) -> ! {
    let code = reason.code();
    use core::fmt::Write;
    let _ = writeln!(super::console::emergency(), "elastic: exit code {code}");
    if super::snp::active() {
        super::snp::terminate(elastic_snp::sev_status::elastic::exit_code(code));
    }
    super::cpu::outl(DEBUG_EXIT_PORT, debug_exit_value(code));
    super::cpu::halt_forever()
}

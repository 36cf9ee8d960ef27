//! Link options for the daemon's binary.
//!
//! `-z pack-relative-relocs` (DT_RELR, glibc 2.36 and binutils 2.38 on):
//! the position-independent executable's relative relocations, applied by
//! ld.so at every start, shrink from a 127 KiB table (one 24-byte entry
//! per pointer) to 1.5 KiB of bitmaps. The table is read at start and
//! stayed resident: idle VmRSS fell by about 0.13 MiB (the binary's
//! read-only mapping, 416 -> 288 KiB resident), with the executable still
//! PIE and its RELRO unchanged.

fn main() {
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    println!("cargo:rerun-if-changed=build.rs");
}

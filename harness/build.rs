//! Builds the stand-in image's `nc` (standin/nc.c) as a static binary: Debian's static busybox has no `nc -u`,
//! which the lab's Test2 types. The C compiler and static C library are the ones Rust already links with
//! (`cc`, libc6-dev), so nothing is downloaded.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=standin/nc.c");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("standin-nc");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-static", "-Os", "-s", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&out)
        .arg("standin/nc.c")
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("`{cc} -static standin/nc.c` failed ({s}): the static C library is needed (Debian: libc6-dev)"),
        Err(e) => panic!("failed to run the C compiler `{cc}` for standin/nc.c: {e}"),
    }
}

//! A user namespace for a grading lab, created together with a network namespace it owns (server1's): root
//! inside maps to an unprivileged block of ids outside, so the submission's script is root for server1's network
//! stack and nothing else — remounts, the machine's sysctls, the kernel log, devices and files are out of reach
//! by the kernel's own rules. The helper process that creates them exits at once; open files keep both alive.

use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// How many ids the namespace maps (0–65535 inside).
pub const IDS: u32 = 65536;

/// A user namespace and the network namespace it owns.
#[derive(Debug)]
pub struct UserNs {
    /// The first id outside that root inside maps to.
    pub base: u32,
    /// `/proc/PID/ns/user` of the namespace.
    pub user: File,
    /// `/proc/PID/ns/net` of the network namespace it owns.
    pub net: File,
}

/// The first outside id of the block for lab `slot`: far above any id a machine hands out, one block per slot.
pub fn base_for(slot: u32) -> u32 {
    0x4000_0000 + (slot % 0x3000) * IDS
}

impl UserNs {
    /// Creates the namespaces, root inside mapped to `base` outside.
    pub fn create(base: u32) -> io::Result<UserNs> {
        let mut cmd = Command::new("sleep");
        cmd.arg("infinity").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        // SAFETY: only system calls run between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        let made = (|| {
            let pid = child.id();
            // The helper has exec'd, so it has unshared: the maps can be written now, once.
            let map = format!("0 {base} {IDS}\n");
            std::fs::write(format!("/proc/{pid}/uid_map"), &map)?;
            std::fs::write(format!("/proc/{pid}/gid_map"), &map)?;
            let user = File::open(format!("/proc/{pid}/ns/user"))?;
            let net = File::open(format!("/proc/{pid}/ns/net"))?;
            Ok(UserNs { base, user, net })
        })();
        let _ = child.kill();
        let _ = child.wait();
        made
    }
}

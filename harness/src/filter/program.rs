//! Classic BPF programs compiled by libpcap itself, for Ethernet, the way `tcpdump -r FILE EXPR` compiles them:
//! optimized, netmask 0, snapshot length 65535. No device is opened.

use super::libpcap::{self, BpfProgram, Handle};
use std::fmt;

/// The most bytes of a frame a matching program keeps (what its `ret` returns), and the snapshot length of the
/// pcap files reachlab writes.
pub const SNAPLEN: u32 = 65_535;

/// One classic BPF instruction, as the kernel's `struct sock_filter` and libpcap's `struct bpf_insn` hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instruction {
    /// Opcode.
    pub code: u16,
    /// Jump offset when true.
    pub jt: u8,
    /// Jump offset when false.
    pub jf: u8,
    /// Operand.
    pub k: u32,
}

/// A compiled filter.
pub struct Program {
    expression: String,
    bpf: BpfProgram,
    instructions: Vec<Instruction>,
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Program").field("expression", &self.expression).field("len", &self.instructions.len()).finish()
    }
}

impl Program {
    /// Compiles `expression` (tcpdump's language, pcap-filter(7)) with libpcap; the error is libpcap's message.
    pub fn compile(expression: &str) -> Result<Program, String> {
        let mut dead = Handle::dead(libpcap::LINKTYPE_ETHERNET, SNAPLEN)?;
        let bpf = dead.compile(expression, true)?;
        let instructions =
            bpf.instructions().iter().map(|i| Instruction { code: i.code, jt: i.jt, jf: i.jf, k: i.k }).collect();
        Ok(Program { expression: expression.to_string(), bpf, instructions })
    }

    /// The expression compiled, node names already replaced by addresses.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The program.
    pub fn instructions(&self) -> &[Instruction] {
        &self.instructions
    }

    /// Whether the program keeps `frame` (a whole frame as captured), run by libpcap (`pcap_offline_filter`),
    /// as `tcpdump -r` runs it on a file's frames.
    pub fn matches(&self, frame: &[u8]) -> bool {
        self.bpf.filter(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_like_tcpdump_d() {
        // `tcpdump -d -r any.pcap 'ip proto 1'` prints these five instructions.
        let p = Program::compile("ip proto 1").unwrap();
        let code: Vec<(u16, u8, u8, u32)> = p.instructions().iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect();
        assert_eq!(
            code,
            [
                (0x28, 0, 0, 12),
                (0x15, 0, 3, 0x800),
                (0x30, 0, 0, 23),
                (0x15, 0, 1, 1),
                (0x6, 0, 0, SNAPLEN),
                (0x6, 0, 0, 0)
            ]
        );
        assert_eq!(Program::compile("").unwrap().instructions(), [Instruction { code: 0x6, jt: 0, jf: 0, k: SNAPLEN }]);
    }

    #[test]
    fn errors_are_libpcap_s() {
        assert_eq!(Program::compile("host 10.0.0.1 and").unwrap_err(), "can't parse filter expression: syntax error");
        assert_eq!(Program::compile("udp port 99999").unwrap_err(), "illegal port number 99999 > 65535");
    }
}

//! The kernel's ARP table, which every network namespace of the machine shares: its size limit
//! (`net.ipv4.neigh.default.gc_thresh3`, 1,024 by default), how full it is, and how often it was full
//! (`/proc/net/stat/arp_cache`, the `entries` and `table_fulls` columns). A probe whose neighbour entry cannot
//! be made is dropped by the kernel ("neighbor table overflow"): a limit of the machine, never the lab's
//! answer. Both files exist only in the machine's first namespace, where reachlab's main thread stays.

use std::io;

/// The table's limit and use, read at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpTable {
    /// `gc_thresh3`: the hard limit on entries, machine-wide.
    pub limit: u64,
    /// Entries now (all namespaces).
    pub entries: u64,
    /// How many times an entry could not be made because the table was full, since boot (summed over CPUs).
    pub table_fulls: u64,
}

impl ArpTable {
    /// Entries that can still be made before the limit (with `margin` kept free for the rest of the machine).
    pub fn room(&self, margin: u64) -> u64 {
        self.limit.saturating_sub(self.entries).saturating_sub(margin)
    }
}

/// Parses `/proc/net/stat/arp_cache`: a header, then one line of hexadecimal counters per CPU (`entries` is the
/// table-wide count on every line; `table_fulls` is per CPU).
pub fn parse_stat(text: &str) -> Option<(u64, u64)> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next()?.split_whitespace().collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (entries_at, fulls_at) = (col("entries")?, col("table_fulls")?);
    let mut entries = None;
    let mut fulls = 0u64;
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let hex = |i: usize| fields.get(i).and_then(|f| u64::from_str_radix(f, 16).ok());
        entries = entries.or(hex(entries_at));
        fulls += hex(fulls_at)?;
    }
    Some((entries?, fulls))
}

/// Reads the table's state now.
pub fn arp_table() -> io::Result<ArpTable> {
    let limit: u64 = std::fs::read_to_string("/proc/sys/net/ipv4/neigh/default/gc_thresh3")?
        .trim()
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("gc_thresh3: {e}")))?;
    let stat = std::fs::read_to_string("/proc/net/stat/arp_cache")?;
    let (entries, table_fulls) = parse_stat(&stat)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unreadable /proc/net/stat/arp_cache"))?;
    Ok(ArpTable { limit, entries, table_fulls })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_stat_file() {
        let text = "entries  allocs   destroys hash_grows lookups  hits     res_failed rcv_probes_mcast rcv_probes_ucast periodic_gc_runs forced_gc_runs unresolved_discards table_fulls\n\
                    00000400 000007b1 00000b8a 00000004   00002a01 000010ca 0000002b   00000000         00000000         0000009e         00000000       0000015f            0000000a\n\
                    00000400 00000baf 000007d5 00000003   00005c96 000029fb 00000031   00000000         00000000         00000000         00000001       000000e2            00000001\n";
        assert_eq!(parse_stat(text), Some((1024, 11)));
        let t = ArpTable { limit: 1024, entries: 1000, table_fulls: 0 };
        assert_eq!(t.room(64), 0);
        assert_eq!(ArpTable { entries: 100, ..t }.room(64), 860);
    }
}

//! Whether this process may build topologies.

/// CAP_NET_ADMIN (12) and CAP_SYS_ADMIN (21): creating links and namespaces, mounting namespace files.
const NEEDED: [(u32, &str); 3] = [(12, "CAP_NET_ADMIN"), (21, "CAP_SYS_ADMIN"), (13, "CAP_NET_RAW")];

/// Capabilities this process lacks among those reachlab needs (empty when it may build labs).
pub fn missing_capabilities() -> Vec<&'static str> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .unwrap_or(0);
    NEEDED.iter().filter(|(bit, _)| eff & (1 << bit) == 0).map(|(_, name)| *name).collect()
}

/// A sentence saying why the lab cannot be built, when it cannot.
pub fn unprivileged_reason() -> Option<String> {
    let missing = missing_capabilities();
    (!missing.is_empty()).then(|| format!("needs root (missing {}): run as root, e.g. with sudo", missing.join(", ")))
}

//! What one suite may declare. Loading is linear in the suite's size, but a lab is built for real: past these
//! numbers a suite would take hours to build or probe (or exhaust Docker's address pools) long before it told
//! anyone anything, so it is refused at load time, at the first table over the limit.

use super::*;

/// Caps on a suite's size. [`Limits::DEFAULT`] is what `load_*` apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of suite text.
    pub bytes: usize,
    /// `[[namespace]]` tables.
    pub namespaces: usize,
    /// Interfaces the suite creates: bridges, veth pairs (two each) and links.
    pub interfaces: usize,
    /// Routes, over all namespaces.
    pub routes: usize,
    /// `[[network]]` tables.
    pub networks: usize,
    /// `[[container]]` tables.
    pub containers: usize,
    /// `[[matrix]]` tables.
    pub matrices: usize,
    /// Grid cells (checked or not), over all matrices.
    pub cells: usize,
    /// `[[capture]]` tables.
    pub captures: usize,
    /// `[[nat]]` tables.
    pub nats: usize,
}

impl Limits {
    /// The limits every command applies.
    pub const DEFAULT: Limits = Limits {
        bytes: 8 << 20,
        namespaces: 4096,
        interfaces: 16384,
        routes: 65536,
        networks: 64,
        containers: 256,
        matrices: 1024,
        cells: 1_000_000,
        captures: 256,
        nats: 256,
    };

    /// No limits (for measuring the loader itself).
    pub const NONE: Limits = Limits {
        bytes: usize::MAX,
        namespaces: usize::MAX,
        interfaces: usize::MAX,
        routes: usize::MAX,
        networks: usize::MAX,
        containers: usize::MAX,
        matrices: usize::MAX,
        cells: usize::MAX,
        captures: usize::MAX,
        nats: usize::MAX,
    };
}

impl Cx<'_> {
    /// The suite text is not too long to read.
    pub(super) fn size(&self, limits: &Limits) -> Result<(), Diagnostic> {
        if self.src.len() <= limits.bytes {
            return Ok(());
        }
        Err(self.at(
            limits.bytes,
            format!("the suite is longer than {} bytes, the most a suite may have", limits.bytes),
            Some("split it into several suites (a directory of suites runs as one)".into()),
        ))
    }

    /// The suite declares no more than a lab can be built from.
    pub(super) fn counts(&self, raw: &SuiteFile, limits: &Limits) -> Result<(), Diagnostic> {
        let over = |what: &str, limit: usize, at: usize| {
            self.at(
                at,
                format!("the suite declares more than {limit} {what}"),
                Some(format!("a suite has at most {limit} {what}: split it into several suites")),
            )
        };
        let check = |what: &str, limit: usize, starts: &mut dyn Iterator<Item = usize>| match starts.nth(limit) {
            Some(at) => Err(over(what, limit, at)),
            None => Ok(()),
        };
        check("namespaces", limits.namespaces, &mut raw.namespace.iter().map(|n| n.name.span().start))?;
        let interfaces = raw.bridge.iter().map(|b| b.name.span().start);
        let interfaces =
            interfaces.chain(raw.veth.iter().flat_map(|v| [v.name.span().start, v.peer.name.span().start]));
        let mut interfaces = interfaces.chain(raw.link.iter().map(|l| l.name.span().start));
        check("interfaces", limits.interfaces, &mut interfaces)?;
        let mut routes = raw.namespace.iter().flat_map(|n| n.routes.iter().map(|r| r.to.span().start));
        check("routes", limits.routes, &mut routes)?;
        check("networks", limits.networks, &mut raw.network.iter().map(|n| n.name.span().start))?;
        check("containers", limits.containers, &mut raw.container.iter().map(|c| c.name.span().start))?;
        check("matrices", limits.matrices, &mut raw.matrix.iter().map(|m| m.expect.span().start))?;
        check("captures", limits.captures, &mut raw.capture.iter().map(|c| c.name.span().start))?;
        check("NAT assertions", limits.nats, &mut raw.nat.iter().map(|n| n.masquerade.span().start))?;
        Ok(())
    }
}

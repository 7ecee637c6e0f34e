//! Loading virtual interfaces other than veth and bridge, and the interface registry.

use super::*;

impl Cx<'_> {
    /// Registers an interface, refusing a second one of the same name in a namespace.
    pub(super) fn claim(
        &self,
        ifaces: &mut Ifaces,
        netns: &str,
        name: &Spanned<String>,
        ifname: &str,
        addr: Option<Cidr>,
    ) -> Result<(), Diagnostic> {
        if netns == Lab::SERVER1 && ifname == "docker0" {
            return Err(self.span(
                name,
                "`docker0` in server1 is the bridge its Docker engine makes",
                "pick another name".to_string(),
            ));
        }
        let slot = ifaces.entry(netns.to_string()).or_default();
        if slot.insert(ifname.to_string(), addr).is_some() {
            return Err(self.span(
                name,
                format!("namespace `{netns}` already has an interface `{ifname}`"),
                "interface names are unique within a namespace".to_string(),
            ));
        }
        Ok(())
    }

    pub(super) fn link(
        &self,
        l: &LinkSpec,
        netns: &dyn Fn(&Spanned<String>) -> Result<String, Diagnostic>,
        ifaces: &Ifaces,
    ) -> Result<Link, Diagnostic> {
        let kind = *l.kind.get_ref();
        let ns = netns(&l.netns)?;
        let name = self.ifname(&l.name)?;
        let parent_ns = l.parent_netns.as_ref().map(netns).transpose()?.unwrap_or_else(|| ns.clone());
        let needs_parent = matches!(kind, LinkKind::Macvlan | LinkKind::Ipvlan | LinkKind::Vlan);
        let parent = match (&l.parent, needs_parent) {
            (None, true) => {
                return Err(self.span(
                    &l.kind,
                    format!("a {} link needs a `parent`", kind.as_str()),
                    "name its lower device, e.g. `parent = \"eth0\"`".to_string(),
                ))
            }
            (None, false) => None,
            (Some(p), _) if kind == LinkKind::Dummy => {
                return Err(self.span(p, "a dummy link has no parent", "remove `parent`".to_string()))
            }
            (Some(p), _) => {
                let here = ifaces.get(&parent_ns);
                if !here.is_some_and(|i| i.contains_key(p.get_ref())) {
                    return Err(self.span(
                        p,
                        format!("no interface `{}` in namespace `{parent_ns}`", p.get_ref()),
                        format!(
                            "interfaces in `{parent_ns}` declared before this link: {}",
                            known(here.into_iter().flat_map(|i| i.keys()))
                        ),
                    ));
                }
                Some((parent_ns.clone(), p.get_ref().clone()))
            }
        };
        let modes: &[&str] = match kind {
            LinkKind::Macvlan => &["bridge", "private", "vepa", "passthru"],
            LinkKind::Ipvlan => &["l2", "l3", "l3s"],
            _ => &[],
        };
        let mode = match &l.mode {
            Some(m) if modes.contains(&m.get_ref().as_str()) => Some(m.get_ref().clone()),
            Some(m) if modes.is_empty() => {
                return Err(self.span(m, format!("a {} link has no mode", kind.as_str()), "remove `mode`".to_string()))
            }
            Some(m) => {
                return Err(self.span(
                    m,
                    format!("unknown {} mode `{}`", kind.as_str(), m.get_ref()),
                    format!("use one of: {}", modes.join(", ")),
                ))
            }
            None => modes.first().map(|m| m.to_string()),
        };
        let endpoint = |s: &Option<Spanned<String>>, what: &str| s.as_ref().map(|v| self.unicast(v, what)).transpose();
        let (remote, local) = (endpoint(&l.remote, "vxlan remote")?, endpoint(&l.local, "vxlan local address")?);
        // Keys of another kind would be silently ignored by the kernel request: refuse them.
        let vxlan_only =
            [("remote", l.remote.as_ref().map(|r| r.span())), ("local", l.local.as_ref().map(|r| r.span()))];
        for (key, span) in vxlan_only.into_iter().chain([("dstport", l.dstport.as_ref().map(|d| d.span()))]) {
            if let (Some(span), false) = (span, kind == LinkKind::Vxlan) {
                return Err(self.at(
                    span.start,
                    format!("a {} link has no `{key}`", kind.as_str()),
                    Some(format!("`{key}` is for vxlan links; remove it")),
                ));
            }
        }
        if let (Some(id), false) = (&l.id, matches!(kind, LinkKind::Vlan | LinkKind::Vxlan)) {
            return Err(self.span(
                id,
                format!("a {} link has no `id`", kind.as_str()),
                "`id` is a vlan's VLAN id or a vxlan's VNI; remove it".to_string(),
            ));
        }
        let id = l.id.as_ref().map(|i| *i.get_ref());
        match kind {
            LinkKind::Vlan if !id.is_some_and(|i| (1..4095).contains(&i)) => {
                let at = l.id.as_ref().map_or(l.kind.span().start, |i| i.span().start);
                return Err(self.at(
                    at,
                    "a vlan link needs an `id` from 1 to 4094",
                    Some("e.g. `id = 10`".to_string()),
                ));
            }
            LinkKind::Vxlan if id.is_none() || remote.is_none() => {
                return Err(self.span(
                    &l.kind,
                    "a vxlan link needs an `id` (the VNI) and a `remote`",
                    "e.g. `id = 42`, `remote = \"10.0.0.2\"`".to_string(),
                ))
            }
            // A VNI has 24 bits (the kernel refuses more).
            LinkKind::Vxlan if id.is_some_and(|i| i >= 1 << 24) => {
                let span = l.id.as_ref().expect("checked").span();
                return Err(self.at(
                    span.start,
                    format!("vxlan id {} does not fit in 24 bits", id.unwrap_or(0)),
                    Some("a VNI is 0 to 16777215".to_string()),
                ));
            }
            _ => {}
        }
        let dstport = l.dstport.as_ref().map(|d| self.port(d.span().start, *d.get_ref())).transpose()?;
        let address = l.address.as_ref().map(|a| self.iface_cidr(a)).transpose()?;
        Ok(Link { kind, name, netns: ns, parent, mode, id, remote, local, dstport, address, up: l.up.unwrap_or(true) })
    }
}

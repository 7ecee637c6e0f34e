//! Values the kernel, the engine or the grader would refuse later: addresses an interface cannot hold, prefixes a
//! route cannot have, port 0, points that are not a number. Refused here, where the suite says them.

use super::*;

/// Why an address cannot be an interface's own, unicast address.
fn not_unicast(a: Ipv4Addr) -> Option<&'static str> {
    if a.is_unspecified() {
        Some("the unspecified address (0.0.0.0)")
    } else if a.is_loopback() {
        Some("a loopback address (127.0.0.0/8 belongs to `lo`)")
    } else if a.is_multicast() {
        Some("a multicast address (224.0.0.0/4)")
    } else if a.is_broadcast() {
        Some("the limited broadcast address")
    } else {
        None
    }
}

impl Cx<'_> {
    /// An address an interface of the lab holds: unicast, so that it can be probed and answer.
    pub(super) fn iface_cidr(&self, s: &Spanned<String>) -> Result<Cidr, Diagnostic> {
        let c = self.cidr(s)?;
        match not_unicast(c.addr) {
            None => Ok(c),
            Some(why) => Err(self.span(
                s,
                format!("`{}` cannot be an interface's address: it is {why}", s.get_ref()),
                "give the interface a unicast address, e.g. `10.0.0.11/24`".to_string(),
            )),
        }
    }

    /// A plain unicast address (a gateway, a tunnel endpoint).
    pub(super) fn unicast(&self, s: &Spanned<String>, what: &str) -> Result<Ipv4Addr, Diagnostic> {
        let a: Ipv4Addr = s.get_ref().parse().map_err(|_| {
            self.span(
                s,
                format!("`{}` is not an IPv4 address", s.get_ref()),
                format!("a {what} is a plain address such as `10.0.0.1`"),
            )
        })?;
        match not_unicast(a) {
            None => Ok(a),
            Some(why) => Err(self.span(
                s,
                format!("`{a}` cannot be a {what}: it is {why}"),
                format!("a {what} is a unicast address"),
            )),
        }
    }

    /// A prefix (a route's destination, a subnet): the kernel and Docker refuse host bits set.
    pub(super) fn prefix(&self, s: &Spanned<String>) -> Result<Cidr, Diagnostic> {
        let c = self.cidr(s)?;
        if c.addr != c.network() {
            return Err(self.span(
                s,
                format!("`{}` has host bits set", s.get_ref()),
                format!("a prefix names its network: `{}/{}`", c.network(), c.prefix),
            ));
        }
        Ok(c)
    }

    /// A Docker network's subnet with its gateway and ip_range: Docker refuses a gateway or a range outside it,
    /// and a subnet that is not unicast.
    pub(super) fn network_subnet(
        &self,
        s: &Spanned<String>,
        gateway: Option<(&Spanned<String>, Ipv4Addr)>,
        ip_range: Option<(&Spanned<String>, Cidr)>,
    ) -> Result<(), Diagnostic> {
        let subnet = self.prefix(s)?;
        if let Some(why) = not_unicast(subnet.addr) {
            return Err(self.span(
                s,
                format!("`{subnet}` cannot be a network's subnet: it is {why}"),
                "use a unicast range, e.g. `172.18.0.0/16`".to_string(),
            ));
        }
        if let Some((g, a)) = gateway.filter(|(_, a)| !subnet.contains(*a)) {
            return Err(self.span(
                g,
                format!("gateway {a} is not in the subnet {subnet}"),
                "Docker refuses a gateway outside the network's subnet".to_string(),
            ));
        }
        let inside = |r: Cidr| r.prefix >= subnet.prefix && subnet.contains(r.addr);
        if let Some((r, c)) = ip_range.filter(|(_, c)| !inside(*c)) {
            return Err(self.span(
                r,
                format!("ip_range {c} is not within the subnet {subnet}"),
                "Docker refuses an ip_range outside the network's subnet".to_string(),
            ));
        }
        Ok(())
    }

    /// A UDP or TCP port a probe or tunnel can use.
    pub(super) fn port(&self, at: usize, port: u16) -> Result<u16, Diagnostic> {
        if port == 0 {
            return Err(self.at(
                at,
                "port 0 is not a port",
                Some("use 1 to 65535 (port 0 asks the kernel to pick one)".into()),
            ));
        }
        Ok(port)
    }

    /// The `[grading]` table.
    pub(super) fn grading(&self, g: &GradingSpec) -> Result<Grading, Diagnostic> {
        let setup_timeout_s = match &g.setup_timeout_s {
            Some(t) if !(1..=3600).contains(t.get_ref()) => {
                return Err(self.span(
                    t,
                    format!("setup_timeout_s = {} is out of range", t.get_ref()),
                    "use 1 to 3600 seconds".to_string(),
                ))
            }
            Some(t) => *t.get_ref(),
            None => 60,
        };
        Ok(Grading {
            points: self.points(&g.points)?.unwrap_or(1.0),
            prediction_points: self.points(&g.prediction_points)?.unwrap_or(0.0),
            setup_timeout_s,
        })
    }

    /// Points a check is worth: a finite number, not negative.
    pub(super) fn points(&self, p: &Option<Spanned<f64>>) -> Result<Option<f64>, Diagnostic> {
        match p {
            Some(v) if !v.get_ref().is_finite() || *v.get_ref() < 0.0 => Err(self.span(
                v,
                format!(
                    "points = {} is not a number of points",
                    if v.get_ref().is_nan() { "nan".into() } else { v.get_ref().to_string() }
                ),
                "use a finite number, 0 or more, e.g. `points = 1.5`".to_string(),
            )),
            Some(v) => Ok(Some(*v.get_ref())),
            None => Ok(None),
        }
    }
}

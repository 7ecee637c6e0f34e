//! Loading the Docker lab: the emulated LAN, Docker networks and containers.

use super::*;

impl Cx<'_> {
    pub(super) fn lab(&self, raw: &SuiteFile) -> Result<Option<Lab>, Diagnostic> {
        let implied = !raw.container.is_empty() || !raw.network.is_empty();
        let spec = match (&raw.lab, implied) {
            (Some(spec), _) => spec,
            (None, true) => &Default::default(),
            (None, false) => return Ok(None),
        };
        let addr = |s: &Option<Spanned<String>>, default: &str| match s {
            Some(s) => self.iface_cidr(s),
            None => Ok(default.parse().expect("valid default")),
        };
        let nic = |s: &Option<Spanned<String>>| s.as_ref().map_or(Ok("enp0s3".to_string()), |s| self.ifname(s));
        if let Some(n) = spec.nic.as_ref().filter(|n| n.get_ref() == "docker0") {
            return Err(self.span(
                n,
                "`docker0` in server1 is the bridge its Docker engine makes",
                "name server1's NIC otherwise (the lab's is `enp0s3`)".to_string(),
            ));
        }
        let lab = Lab {
            server1: addr(&spec.server1, "192.168.56.3/24")?,
            server2: addr(&spec.server2, "192.168.56.4/24")?,
            nic: nic(&spec.nic)?,
            server2_nic: nic(&spec.server2_nic)?,
            promiscuous: spec.promiscuous.unwrap_or(Promiscuous::Deny),
            nic_promisc: spec.nic_promisc,
        };
        if lab.server1.addr == lab.server2.addr {
            let at = spec.server2.as_ref().or(spec.server1.as_ref()).map_or(0, |s| s.span().start);
            return Err(self.at(
                at,
                "server1 and server2 have the same address",
                Some("give each its own address on the LAN".into()),
            ));
        }
        Ok(Some(lab))
    }

    pub(super) fn networks(&self, specs: &[NetworkSpec], ifaces: &Ifaces) -> Result<Vec<Network>, Diagnostic> {
        let mut out: Vec<Network> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        for n in specs {
            let name = n.name.get_ref();
            if ["bridge", "host", "none"].contains(&name.as_str()) {
                return Err(self.span(
                    &n.name,
                    format!("`{name}` is one of Docker's predefined networks"),
                    "declare only user-defined networks; containers can join `bridge` without declaring it".to_string(),
                ));
            }
            self.network_name(&n.name)?;
            // A bridge network's Linux bridge is named by this option (else `br-<id>`): a kernel name.
            if let Some((message, hint)) =
                n.options.get("com.docker.network.bridge.name").and_then(|b| names::ifname_problem(b))
            {
                return Err(self.span(&n.name, format!("option com.docker.network.bridge.name: {message}"), hint));
            }
            if !seen.insert(name.clone()) {
                return Err(self.span(
                    &n.name,
                    format!("network `{name}` is declared twice"),
                    "give each network its own name".to_string(),
                ));
            }
            let driver = n.driver.as_ref().map_or("bridge", |d| d.get_ref().as_str());
            if !["bridge", "macvlan"].contains(&driver) {
                let d = n.driver.as_ref().expect("non-default driver was written");
                return Err(self.span(
                    d,
                    format!("unsupported network driver `{driver}`"),
                    "use `bridge` or `macvlan`".to_string(),
                ));
            }
            let subnet = n.subnet.as_ref().map(|x| self.prefix(x)).transpose()?;
            let ip_range = n.ip_range.as_ref().map(|x| self.prefix(x)).transpose()?;
            let gateway = n.gateway.as_ref().map(|g| self.unicast(g, "gateway")).transpose()?;
            if let Some(s) = n.subnet.as_ref() {
                self.network_subnet(s, n.gateway.as_ref().zip(gateway), n.ip_range.as_ref().zip(ip_range))?;
            }
            if (gateway.is_some() || ip_range.is_some()) && subnet.is_none() {
                return Err(self.span(
                    &n.name,
                    format!("network `{name}` sets a gateway or ip_range without a subnet"),
                    "add `subnet = \"…\"`, as `docker network create` requires".to_string(),
                ));
            }
            if driver == "macvlan" {
                let server1: Vec<&String> = ifaces.get(Lab::SERVER1).into_iter().flat_map(|i| i.keys()).collect();
                match n.options.get("parent") {
                    None => {
                        return Err(self.span(
                            &n.name,
                            format!("macvlan network `{name}` has no parent"),
                            format!(
                                "add `options = {{ parent = \"…\" }}`: one of server1's interfaces ({})",
                                known(&server1)
                            ),
                        ))
                    }
                    Some(p) if !server1.contains(&p) => {
                        return Err(self.span(
                            &n.name,
                            format!("macvlan parent `{p}` is not an interface of server1"),
                            format!("server1's interfaces: {}", known(&server1)),
                        ))
                    }
                    Some(_) => {}
                }
                if let Some(mode) = n
                    .options
                    .get("macvlan_mode")
                    .filter(|m| !["bridge", "private", "vepa", "passthru"].contains(&m.as_str()))
                {
                    return Err(self.span(
                        &n.name,
                        format!("unknown macvlan_mode `{mode}`"),
                        "use bridge, private, vepa or passthru".to_string(),
                    ));
                }
            }
            out.push(Network {
                name: name.clone(),
                driver: driver.into(),
                subnet,
                gateway,
                ip_range,
                options: n.options.clone(),
            });
        }
        Ok(out)
    }

    pub(super) fn containers(
        &self,
        specs: &[ContainerSpec],
        networks: &[Network],
        ns_names: &HashSet<&str>,
    ) -> Result<Vec<Container>, Diagnostic> {
        let mut out: Vec<Container> = Vec::new();
        let network_names: HashSet<&str> = networks.iter().map(|n| n.name.as_str()).collect();
        let mut seen: HashSet<String> = HashSet::new();
        for c in specs {
            let name = c.name.get_ref();
            self.container_name(&c.name)?;
            if let Some(image) = &c.image {
                self.image(image)?;
            }
            if ns_names.contains(name.as_str()) || !seen.insert(name.clone()) {
                return Err(self.span(
                    &c.name,
                    format!("node `{name}` is declared twice"),
                    "containers and namespaces share one set of names".to_string(),
                ));
            }
            let attachment = match (&c.network_mode, &c.networks) {
                (Some(m), Some(_)) => {
                    return Err(self.span(
                        m,
                        "`network_mode` and `networks` exclude each other",
                        "a host-network or network-less container joins no networks".to_string(),
                    ))
                }
                (Some(m), None) => match m.get_ref().as_str() {
                    "host" => Attachment::Host,
                    "none" => Attachment::None,
                    other => {
                        return Err(self.span(
                            m,
                            format!("unknown network_mode `{other}`"),
                            "use `host` or `none` (or list `networks`)".to_string(),
                        ))
                    }
                },
                (None, None) => Attachment::Networks(vec!["bridge".into()]),
                (None, Some(list)) => {
                    if list.is_empty() {
                        return Err(self.at(
                            c.name.span().start,
                            format!("container `{name}` has an empty `networks` list"),
                            Some("list at least one network, or use network_mode = \"none\"".into()),
                        ));
                    }
                    let mut names: Vec<String> = Vec::new();
                    for n in list {
                        if n.get_ref() != "bridge" && !network_names.contains(n.get_ref().as_str()) {
                            return Err(self.span(
                                n,
                                format!("unknown network `{}`", n.get_ref()),
                                format!(
                                    "networks: bridge (Docker's default){}",
                                    networks.iter().map(|x| format!(", {}", x.name)).collect::<String>()
                                ),
                            ));
                        }
                        if names.contains(n.get_ref()) {
                            return Err(self.span(
                                n,
                                format!("`{}` is listed twice", n.get_ref()),
                                "list each network once".to_string(),
                            ));
                        }
                        names.push(n.get_ref().clone());
                    }
                    Attachment::Networks(names)
                }
            };
            out.push(Container {
                name: name.clone(),
                image: c.image.as_ref().map_or_else(|| "alpine".into(), |i| i.get_ref().clone()),
                attachment,
                command: c.command.clone(),
            });
        }
        Ok(out)
    }
}

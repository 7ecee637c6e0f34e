//! Loading expected matrices: the grid, its endpoints, cells allowed per probe kind, hints.

use super::*;

impl Cx<'_> {
    pub(super) fn matrix(
        &self,
        index: usize,
        m: &MatrixSpec,
        suite: &ProbeSettings,
        nodes: &Nodes,
    ) -> Result<Matrix, Diagnostic> {
        if let Some(n) = &m.name {
            self.title(n.span().start, n.get_ref())?;
        }
        let settings = self.settings(&m.timeout_ms, &m.attempts, *suite)?;
        let content_start = self.string_content_start(m.expect.span());
        let line_offsets: Vec<usize> =
            std::iter::once(0).chain(m.expect.get_ref().match_indices('\n').map(|(i, _)| i + 1)).collect();
        let place = |line: usize, col: usize| content_start + line_offsets.get(line).copied().unwrap_or(0) + col;
        let grid =
            matrix::parse(m.expect.get_ref()).map_err(|e| self.at(place(e.line, e.col), e.message, Some(e.hint)))?;
        let by = m.by.unwrap_or(By::Address);
        let expect_at = m.expect.span().start;
        let port = m.port.as_ref().map(|p| self.port(p.span().start, *p.get_ref())).transpose()?;
        let points = self.points(&m.points)?;
        match (m.probe, port, by) {
            (ProbeKind::Icmp, Some(_), _) => {
                return Err(self.at(
                    expect_at,
                    "an ICMP matrix has no `port`",
                    Some("remove `port`, or use probe = \"udp\" / \"tcp\"".into()),
                ))
            }
            (ProbeKind::Udp | ProbeKind::Tcp, None, _) => {
                return Err(self.at(
                    expect_at,
                    format!("a {} matrix needs a `port`", m.probe.as_str()),
                    Some("e.g. `port = 2020`".into()),
                ))
            }
            (ProbeKind::Udp | ProbeKind::Tcp, _, By::Name) => {
                return Err(self.at(
                    expect_at,
                    "`by = \"name\"` is for ICMP matrices",
                    Some("UDP and TCP probes go to addresses".into()),
                ))
            }
            _ => {}
        }
        let listen = m.listen.as_ref().map(|l| *l.get_ref());
        if listen.is_some() && m.probe == ProbeKind::Icmp {
            return Err(self.at(
                expect_at,
                "an ICMP matrix has no `listen`",
                Some("`listen` is for UDP and TCP matrices".into()),
            ));
        }
        let allowed: &[Cell] = match (m.probe, by) {
            (ProbeKind::Icmp, By::Address) => &[Cell::Reach, Cell::NoReach, Cell::Unchecked],
            (ProbeKind::Icmp, By::Name) => &[Cell::Reach, Cell::NoReach, Cell::Unresolved, Cell::Unchecked],
            // Without reachlab's listener nothing can be delivered to it; a socket of the lab may be open there.
            _ if listen == Some(false) => &[Cell::NoReach, Cell::Refused, Cell::Dropped, Cell::Open, Cell::Unchecked],
            _ => &[Cell::Reach, Cell::NoReach, Cell::Refused, Cell::Dropped, Cell::Unchecked],
        };

        let endpoint = |t: &matrix::Token, role: &str| -> Result<Endpoint, Diagnostic> {
            let (node, via) = match t.text.split_once('@') {
                Some((n, v)) => (n, Some(v)),
                None => (t.text.as_str(), None),
            };
            let err = |col: usize, message: String, hint: String| {
                Err(self.at(place(t.line, t.col + col), message, Some(hint)))
            };
            if !nodes.exists(node) {
                return err(
                    0,
                    format!("unknown {role} `{node}` in matrix"),
                    format!("nodes in this suite: {}", known(nodes.names())),
                );
            }
            if by == By::Name && nodes.container(node).is_none() {
                return err(0, format!("`{node}` is not a container"), "`by = \"name\"` resolves container names through Docker's DNS from inside containers; use containers as rows and columns".into());
            }
            if let Some(c) = nodes.container(node) {
                if role == "destination" && c.attachment == Attachment::None {
                    return err(
                        0,
                        format!("destination `{node}` has no network (network_mode = \"none\")"),
                        "remove its column".into(),
                    );
                }
                if let Some(via) = via {
                    let on = match &c.attachment {
                        Attachment::Networks(n) => n.iter().any(|n| n == via),
                        _ => false,
                    };
                    if !on {
                        return err(
                            node.len() + 1,
                            format!("`{node}` is not on network `{via}`"),
                            format!("`{node}@NETWORK` names one of the container's networks"),
                        );
                    }
                }
                return Ok(Endpoint { node: node.to_string(), via: via.map(str::to_string) });
            }
            let here = nodes.ifaces.get(node);
            let addressed: BTreeSet<&str> =
                here.into_iter().flatten().filter(|(_, a)| a.is_some()).map(|(n, _)| n.as_str()).collect();
            // server1's Docker networks are also its networks: `server1@alpine-net` is the bridge's gateway.
            let on_network = node == Lab::SERVER1
                && via.is_some_and(|v| v == "bridge" || nodes.networks.iter().any(|n| n.name == v));
            if let Some(via) = via {
                if !addressed.contains(via) && !on_network {
                    return err(
                        node.len() + 1,
                        format!("`{node}` has no addressed interface `{via}`"),
                        format!("addressed interfaces of `{node}`: {}", known(&addressed)),
                    );
                }
            }
            if role == "destination" && addressed.is_empty() {
                return err(
                    0,
                    format!("destination `{node}` has no address to probe"),
                    format!("give one of `{node}`'s interfaces an `address`, or remove its column"),
                );
            }
            Ok(Endpoint { node: node.to_string(), via: via.map(str::to_string) })
        };

        let columns = grid.columns.iter().map(|c| endpoint(c, "destination")).collect::<Result<Vec<_>, _>>()?;
        let mut rows = Vec::new();
        let mut cells: Vec<Vec<Cell>> = Vec::new();
        let mut answered: HashMap<(usize, usize), Option<addresses::Answerer>> = HashMap::new();
        for row in &grid.rows {
            let source = endpoint(&row.name, "source")?;
            if by == By::Name && nodes.container(&source.node).is_some_and(|c| c.attachment == Attachment::Host) {
                return Err(self.at(
                    place(row.name.line, row.name.col),
                    format!("`{}` shares server1's network stack and has no Docker DNS", source.node),
                    Some("probe by name from containers on user-defined networks".into()),
                ));
            }
            for (c, ((cell, token), column)) in row.cells.iter().zip(&columns).enumerate() {
                if column.node == source.node && *cell != Cell::Unchecked {
                    return Err(self.at(
                        place(token.line, token.col),
                        format!("`{}` probes itself", source.node),
                        Some("put `-` on the diagonal: a node probing itself tests nothing in the lab".into()),
                    ));
                }
                let segment = nodes.segments.segment_of(&source.node);
                if let (true, Some(segment)) = (*cell != Cell::Unchecked && by == By::Address, segment) {
                    // Once per (segment, column): a destination with many addresses costs that many lookups once.
                    let found =
                        *answered.entry((segment, c)).or_insert_with(|| nodes.segments.answered_in(segment, column));
                    if let Some((addr, node, iface)) = found {
                        let message = if node == source.node {
                            format!(
                                "`{}` holds {}'s address {addr} itself: the probe would answer itself",
                                node, column
                            )
                        } else {
                            format!(
                                "a probe from `{}` to {column} ({addr}) would be answered by `{node}` ({iface}), which \
                                 holds the same address where `{}` is",
                                source.node, source.node
                            )
                        };
                        return Err(self.at(
                            place(token.line, token.col),
                            message,
                            Some(format!(
                                "give the nodes their own addresses, or pin another of `{}`'s addresses \
                                 (`{}@INTERFACE`)",
                                column.node, column.node
                            )),
                        ));
                    }
                }
                if !allowed.contains(cell) {
                    let list: String = allowed.iter().map(|c| format!("`{}` ", c.symbol())).collect();
                    return Err(self.at(
                        place(token.line, token.col),
                        format!(
                            "`{}` is not a cell of a {} matrix{}",
                            cell.symbol(),
                            m.probe.as_str(),
                            if by == By::Name { " by name" } else { "" }
                        ),
                        Some(format!("use {}", list.trim_end())),
                    ));
                }
            }
            cells.push(row.cells.iter().map(|(c, _)| *c).collect());
            rows.push(source);
        }
        let name = m.name.as_ref().map(|n| n.get_ref().clone()).unwrap_or_else(|| {
            let base = match (m.probe, by, port) {
                (ProbeKind::Icmp, By::Name, _) => "icmp by name".to_string(),
                (p, _, Some(port)) => format!("{} port {port}", p.as_str()),
                (p, _, None) => p.as_str().to_string(),
            };
            if index == 0 {
                base
            } else {
                format!("{base} #{}", index + 1)
            }
        });
        let row_at: HashMap<String, usize> = rows.iter().enumerate().map(|(i, r)| (r.to_string(), i)).collect();
        let column_at: HashMap<String, usize> = columns.iter().enumerate().map(|(i, c)| (c.to_string(), i)).collect();
        let mut hints = BTreeMap::new();
        for (key, hint) in &m.hints {
            let pair = key.get_ref().split_once("->").map(|(a, b)| (a.trim().to_string(), b.trim().to_string()));
            let Some((from, to)) = pair else {
                return Err(self.span(
                    key,
                    format!("hint key `{}` is not `FROM -> TO`", key.get_ref()),
                    "e.g. `\"alpine1 -> alpine3\" = \"…\"`".to_string(),
                ));
            };
            match row_at.get(&from).zip(column_at.get(&to)) {
                Some((&r, &c)) if cells[r][c] != Cell::Unchecked => {}
                _ => {
                    return Err(self.span(
                        key,
                        format!("the hint for `{from} -> {to}` names no checked cell of this matrix"),
                        "use a row name, `->`, and a column name of a cell that is not `-`".to_string(),
                    ))
                }
            }
            hints.insert((from, to), hint.clone());
        }
        Ok(Matrix {
            name,
            probe: m.probe,
            settings,
            rows,
            columns,
            cells,
            by,
            port,
            listen: listen.unwrap_or(true),
            scoring: Scoring { points, hidden: m.hidden, given: m.given },
            hints,
        })
    }

    /// Refuses a suite that probes a (protocol, port, destination namespace) both with reachlab's listener and
    /// without it (`listen = false`): all probes run at once, so the listener of one would answer the other as
    /// `open`. A host-network container's namespace is server1's.
    pub(super) fn listen_conflicts(
        &self,
        specs: &[MatrixSpec],
        matrices: &[Matrix],
        nodes: &Nodes,
    ) -> Result<(), Diagnostic> {
        let namespace = |node: &str| match nodes.container(node) {
            Some(c) if c.attachment == Attachment::Host => Lab::SERVER1.to_string(),
            _ => node.to_string(),
        };
        // (probe, port, namespace, listen) -> (matrix, destination) of the first checked column that uses it.
        let mut uses: HashMap<(ProbeKind, u16, String, bool), (usize, String)> = HashMap::new();
        for (i, m) in matrices.iter().enumerate() {
            let Some(port) = m.port else { continue };
            for (c, column) in m.columns.iter().enumerate() {
                if m.cells.iter().all(|row| row[c] == Cell::Unchecked) {
                    continue;
                }
                let ns = namespace(&column.node);
                if let Some((other, dest)) = uses.get(&(m.probe, port, ns.clone(), !m.listen)) {
                    let closed = if m.listen { *other } else { i };
                    let at =
                        specs[closed].listen.as_ref().map_or(specs[closed].expect.span().start, |l| l.span().start);
                    let (first, second) = (&matrices[*other], m);
                    return Err(self.at(
                        at,
                        format!(
                            "{} port {port} to `{}` is probed with reachlab's listener (matrix `{}`) and without it \
                             (matrix `{}`)",
                            m.probe.as_str(),
                            if dest == &column.node { dest.clone() } else { format!("{dest}` and `{}", column.node) },
                            if first.listen { &first.name } else { &second.name },
                            if first.listen { &second.name } else { &first.name },
                        ),
                        Some(
                            "probes run at once, so reachlab's listener would answer the `listen = false` probe as \
                             open: use another port for one of them"
                                .into(),
                        ),
                    ));
                }
                uses.entry((m.probe, port, ns, m.listen)).or_insert((i, column.node.clone()));
            }
        }
        Ok(())
    }
}

//! Probing in waves that fit the kernel's ARP table.
//!
//! Every namespace of the machine shares one ARP table (at most `gc_thresh3` entries, 1,024 by default), and a
//! probe between two hosts makes an entry on each side. Fifty hosts on one bridge probed all at once need
//! 2,450 entries: the kernel drops what it cannot resolve ("neighbor table overflow") and those cells would
//! read as unreachable — a limit of the machine, never the lab's answer. So the probes go in waves that fit
//! the table's free room, measured when each wave starts, with the lab's neighbour caches flushed between
//! waves; and a wave during which the kernel found the table full anyway (its `table_fulls` counter moved —
//! someone else on the machine filled it) has every cell it could have spoiled probed again, in smaller waves.
//! What still cannot be told is an error.

use super::Prober;
use crate::check::{Check, Observation, Outcome};
use crate::kernel::neigh::ArpTable;
use futures::future::join_all;
use std::collections::HashMap;

/// Entries left free for the rest of the machine: a sixteenth of the table, at least 32.
pub fn margin(limit: u64) -> u64 {
    (limit / 16).max(32)
}

/// What the waves need from the machine and the lab.
#[allow(async_fn_in_trait)]
pub trait NeighbourTable {
    /// The table's state now; `None` when it cannot be read (then waves are sized for an empty default table).
    fn read(&self) -> Option<ArpTable>;
    /// Empties the lab's own neighbour caches (never an entry someone made permanent).
    async fn flush(&self) -> Result<(), String>;
}

/// The two nodes a probe makes neighbour entries between (unordered); `None` for checks that send nothing.
pub fn pair(check: &Check) -> Option<(String, String)> {
    let to = crate::plan::probe_destination(&check.action)?;
    let (a, b) = (check.from.clone(), to.node.clone());
    Some(if a <= b { (a, b) } else { (b, a) })
}

/// Splits checks into waves of at most `pairs` distinct node pairs each, keeping every check of one pair (both
/// directions, every matrix) in the same wave. Pure.
pub fn plan<'c>(checks: &[&'c Check], pairs: usize) -> Vec<Vec<&'c Check>> {
    let pairs = pairs.max(1);
    let mut by_pair: Vec<((String, String), Vec<&'c Check>)> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    let mut loose = Vec::new();
    for c in checks {
        match pair(c) {
            Some(p) => match index.get(&p) {
                Some(&i) => by_pair[i].1.push(c),
                None => {
                    index.insert(p.clone(), by_pair.len());
                    by_pair.push((p, vec![c]));
                }
            },
            None => loose.push(*c),
        }
    }
    let mut waves: Vec<Vec<&Check>> =
        by_pair.chunks(pairs).map(|g| g.iter().flat_map(|(_, c)| c.clone()).collect()).collect();
    if waves.is_empty() {
        waves.push(Vec::new());
    }
    waves[0].extend(loose);
    waves
}

/// Whether an observation could have been caused by a full ARP table (a request or reply the kernel dropped).
/// Anything that came back — a reply, a refusal, a delivered token — crossed the lab both ways.
pub fn spoilable(o: &Observation) -> bool {
    matches!(o, Observation::Observed { outcome: Outcome::Unreachable | Outcome::Dropped, .. })
}

/// How often a spoiled wave is probed again (each time in waves half as large) before its cells are errors.
const RETRIES: u32 = 3;

/// Runs `checks` in waves that fit the ARP table (one wave, all at once, when they fit).
pub async fn probe_in_waves(
    prober: &impl Prober,
    table: &impl NeighbourTable,
    checks: &[&Check],
) -> HashMap<usize, Observation> {
    let mut out = HashMap::new();
    let mut pending: Vec<&Check> = checks.to_vec();
    let mut shrink = 1u64;
    let mut first = true;
    for round in 0..=RETRIES {
        if pending.is_empty() {
            break;
        }
        let state = table.read();
        let room = state.map_or(1024 - margin(1024), |t| t.room(margin(t.limit)));
        let budget = (room / 2 / shrink).max(1) as usize;
        let waves = plan(&pending, budget);
        let mut spoiled = Vec::new();
        let many = waves.len() > 1 || !first;
        for wave in waves {
            if many {
                if let Err(e) = table.flush().await {
                    for c in &wave {
                        out.insert(
                            c.id,
                            Observation::error(format!("not probed: failed to flush the lab's ARP caches: {e}")),
                        );
                    }
                    continue;
                }
            }
            let before = table.read();
            let seen = join_all(wave.iter().map(|c| async move { (*c, prober.probe(c).await) })).await;
            let after = table.read();
            let full = matches!((before, after), (Some(b), Some(a)) if a.table_fulls > b.table_fulls);
            for (c, o) in seen {
                if full && spoilable(&o) {
                    spoiled.push(c);
                } else {
                    out.insert(c.id, o);
                }
            }
        }
        first = false;
        pending = spoiled;
        shrink *= 2;
        if round == RETRIES {
            let limit = state.map_or("its limit".to_string(), |t| format!("gc_thresh3 = {}", t.limit));
            for c in &pending {
                out.insert(
                    c.id,
                    Observation::error(format!(
                        "cannot know: the kernel's ARP table ({limit}, shared by the whole machine) was full while this was probed, {} times over; that is the machine's limit, not the lab's answer (free it, or raise net.ipv4.neigh.default.gc_thresh3 — `reachlab doctor`)",
                        RETRIES + 1
                    )),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Action, CheckKind, Expected};
    use crate::suite::{Endpoint, ProbeSettings};
    use std::cell::Cell;
    use std::collections::BTreeSet;

    fn icmp(id: usize, from: &str, to: &str) -> Check {
        let to = Endpoint { node: to.into(), via: None };
        Check {
            id,
            name: format!("icmp {from} -> {to}"),
            kind: CheckKind::Icmp,
            cell: None,
            from: from.into(),
            to: to.to_string(),
            action: Action::Icmp { to, by_name: false },
            target: None,
            expected: Expected::one(Outcome::Reachable),
            settings: ProbeSettings::default(),
        }
    }

    fn star(n: usize) -> Vec<Check> {
        let mut v = Vec::new();
        for a in 0..n {
            for b in 0..n {
                if a != b {
                    v.push(icmp(v.len(), &format!("h{a}"), &format!("h{b}")));
                }
            }
        }
        v
    }

    #[test]
    fn waves_keep_a_pair_together_and_fit_the_budget() {
        let checks = star(10);
        let refs: Vec<&Check> = checks.iter().collect();
        let waves = plan(&refs, 7);
        assert_eq!(waves.iter().map(Vec::len).sum::<usize>(), 90);
        assert_eq!(waves.len(), 45_usize.div_ceil(7));
        for w in &waves {
            let pairs: BTreeSet<_> = w.iter().filter_map(|c| pair(c)).collect();
            assert!(pairs.len() <= 7);
            for c in w {
                assert!(
                    w.iter().any(|d| d.from == c.to && d.to == c.from),
                    "both directions of a pair travel together"
                );
            }
        }
        assert_eq!(plan(&refs, 1000).len(), 1, "a matrix that fits goes all at once");
    }

    /// The machine: its ARP table's `table_fulls` counter, which a probe moves while `spoil` lasts.
    struct Machine {
        fulls: Cell<u64>,
        spoil: Cell<u64>,
        flushes: Cell<u32>,
    }

    impl NeighbourTable for Machine {
        fn read(&self) -> Option<ArpTable> {
            Some(ArpTable { limit: 1024, entries: 0, table_fulls: self.fulls.get() })
        }
        async fn flush(&self) -> Result<(), String> {
            self.flushes.set(self.flushes.get() + 1);
            Ok(())
        }
    }

    struct Unanswered<'m>(&'m Machine);

    impl Prober for Unanswered<'_> {
        async fn probe(&self, _check: &Check) -> Observation {
            if self.0.spoil.get() > 0 {
                self.0.spoil.set(self.0.spoil.get() - 1);
                self.0.fulls.set(self.0.fulls.get() + 1);
            }
            Observation::seen(Outcome::Unreachable, "no echo reply")
        }
    }

    #[test]
    fn a_full_table_is_never_an_unreachable_cell() {
        let checks = star(3);
        let refs: Vec<&Check> = checks.iter().collect();
        // Full during every wave: after the retries each cell is an error, never "unreachable".
        let m = Machine { fulls: Cell::new(0), spoil: Cell::new(u64::MAX), flushes: Cell::new(0) };
        let out = futures::executor::block_on(probe_in_waves(&Unanswered(&m), &m, &refs));
        assert_eq!(out.len(), 6);
        assert!(out.values().all(|o| matches!(o, Observation::Error { detail, .. } if detail.contains("ARP table"))));
        assert!(m.flushes.get() > 0, "spoiled waves are probed again after flushing");
        // Full only during the first wave: the second gives the real answer.
        let m = Machine { fulls: Cell::new(0), spoil: Cell::new(6), flushes: Cell::new(0) };
        let out = futures::executor::block_on(probe_in_waves(&Unanswered(&m), &m, &refs));
        assert!(out.values().all(|o| matches!(o, Observation::Observed { outcome: Outcome::Unreachable, .. })));
    }
}

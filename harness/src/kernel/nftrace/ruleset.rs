//! A namespace's ruleset as `nft -a list ruleset` prints it, and the same rules as `iptables-save` prints them
//! (pure): so a trace event's rule handle becomes the rule's text. Tables that iptables-nft manages (the
//! engine's `ip filter`, `ip nat`, …) are best read in iptables' own words, which is how Docker wrote them:
//! iptables-nft keeps a chain's rules in the order iptables-save prints them, so the n-th rule of an nft
//! chain is the n-th `-A CHAIN` line of its table.

use std::collections::BTreeMap;

/// One chain of the ruleset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chain {
    /// For a base chain: its hook (`prerouting`, `input`, `forward`, `output`, `postrouting`, …).
    pub hook: Option<String>,
    /// For a base chain: its policy (`accept`, `drop`).
    pub policy: Option<String>,
    /// Its rules in order: handle, nft's text (counters left out), iptables' text when known.
    pub rules: Vec<Rule>,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The rule's handle.
    pub handle: u64,
    /// As nft prints it, without counters and the handle comment.
    pub nft: String,
    /// As iptables-save prints it (`-A FORWARD -o docker0 -j DOCKER`), for tables iptables-nft manages.
    pub iptables: Option<String>,
}

/// Chains by (family, table, chain).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    /// The chains.
    pub chains: BTreeMap<(String, String, String), Chain>,
}

fn unquote(s: &str) -> String {
    s.trim().trim_matches('"').to_string()
}

/// Leaves out `counter packets N bytes M` (volatile, and not what the rule says).
fn without_counters(rule: &str) -> String {
    let words: Vec<&str> = rule.split_whitespace().collect();
    let mut out = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        if words[i] == "counter" && words.get(i + 1) == Some(&"packets") && words.get(i + 3) == Some(&"bytes") {
            i += 5;
            continue;
        }
        out.push(words[i]);
        i += 1;
    }
    out.join(" ")
}

impl Ruleset {
    /// Reads `nft -a list ruleset`. Sets, maps, flowtables and objects are skipped.
    pub fn parse_nft(text: &str) -> Ruleset {
        let mut set = Ruleset::default();
        let mut table: Option<(String, String)> = None;
        let mut chain: Option<String> = None;
        // Depth of a block inside a table that is not a chain (a set's elements, …).
        let mut other = 0usize;
        for line in text.lines() {
            let body = line.split(" # handle ").next().unwrap_or(line).trim();
            let handle = line.rsplit_once("# handle ").and_then(|(_, h)| h.trim().parse::<u64>().ok());
            if other > 0 {
                other += body.matches('{').count();
                other = other.saturating_sub(body.matches('}').count());
                continue;
            }
            match (&table, &chain) {
                (None, _) => {
                    if let Some(rest) = body.strip_prefix("table ") {
                        let mut words = rest.trim_end_matches('{').split_whitespace();
                        if let (Some(family), Some(name)) = (words.next(), words.next()) {
                            table = Some((family.to_string(), unquote(name)));
                        }
                    }
                }
                (Some(_), None) => {
                    if body == "}" {
                        table = None;
                    } else if let Some(rest) = body.strip_prefix("chain ") {
                        chain = Some(unquote(rest.trim_end_matches('{')));
                        let (family, name) = table.clone().unwrap_or_default();
                        set.chains.entry((family, name, chain.clone().unwrap_or_default())).or_default();
                    } else if body.ends_with('{') {
                        other = 1;
                    }
                }
                (Some((family, name)), Some(c)) => {
                    let key = (family.clone(), name.clone(), c.clone());
                    if body == "}" {
                        chain = None;
                    } else if body.starts_with("type ") && body.contains(" hook ") {
                        let entry = set.chains.entry(key).or_default();
                        let mut words = body.split(|c: char| c.is_whitespace() || c == ';').filter(|w| !w.is_empty());
                        while let Some(w) = words.next() {
                            match w {
                                "hook" => entry.hook = words.next().map(str::to_string),
                                "policy" => entry.policy = words.next().map(str::to_string),
                                _ => {}
                            }
                        }
                    } else if let Some(handle) = handle {
                        let nft = without_counters(body);
                        set.chains.entry(key).or_default().rules.push(Rule { handle, nft, iptables: None });
                    }
                }
            }
        }
        set
    }

    /// Adds iptables' text from `iptables-save` output to the chains of `ip` tables it lists, where the
    /// number of rules agrees (otherwise the chain is not iptables' and keeps nft's text only).
    pub fn attach_iptables_save(&mut self, save: &str) {
        let mut by_chain: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        let mut table = None;
        for line in save.lines() {
            if let Some(t) = line.strip_prefix('*') {
                table = Some(t.trim().to_string());
            } else if line.starts_with("COMMIT") {
                table = None;
            } else if let (Some(t), Some(rest)) = (&table, line.strip_prefix("-A ")) {
                let chain = rest.split_whitespace().next().unwrap_or_default().to_string();
                by_chain.entry((t.clone(), chain)).or_default().push(line.trim().to_string());
            }
        }
        for ((family, table, chain), c) in self.chains.iter_mut() {
            if family != "ip" {
                continue;
            }
            let Some(lines) = by_chain.get(&(table.clone(), chain.clone())) else { continue };
            if lines.len() == c.rules.len() {
                for (rule, line) in c.rules.iter_mut().zip(lines) {
                    rule.iptables = Some(line.clone());
                }
            }
        }
    }

    /// The chain `family table chain`.
    pub fn chain(&self, family: &str, table: &str, chain: &str) -> Option<&Chain> {
        self.chains.get(&(family.to_string(), table.to_string(), chain.to_string()))
    }

    /// The rule with `handle` in that chain.
    pub fn rule(&self, family: &str, table: &str, chain: &str, handle: u64) -> Option<&Rule> {
        self.chain(family, table, chain)?.rules.iter().find(|r| r.handle == handle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What nft 1.0.6 printed for a namespace with a Docker-like ruleset written by iptables-nft.
    const NFT: &str = r#"table ip filter { # handle 1
	chain FORWARD { # handle 1
		type filter hook forward priority filter; policy drop;
		counter packets 3 bytes 252 jump ISOLATE # handle 4
		oifname "vmb" counter packets 0 bytes 0 accept # handle 5
	}

	chain ISOLATE { # handle 3
		meta l4proto icmp ip daddr 10.2.0.2 counter packets 3 bytes 252 drop # handle 6
	}
}
# Warning: table ip nat is managed by iptables-nft, do not touch!
table ip nat { # handle 2
	chain POSTROUTING { # handle 1
		type nat hook postrouting priority srcnat; policy accept;
		oifname "vmb" ip saddr 10.1.0.0/24 counter packets 0 bytes 0 xt target "MASQUERADE" # handle 2
	}
}
table inet other { # handle 3
	set allowed { # handle 1
		type ipv4_addr
		elements = { 10.0.0.1,
			     10.0.0.2 }
	}

	chain input { # handle 2
		type filter hook input priority 0; policy accept;
		ip saddr @allowed accept # handle 3
	}
}
"#;

    const SAVE: &str = "# Generated by iptables-save v1.8.9 (nf_tables)\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:ISOLATE - [0:0]\n-A FORWARD -j ISOLATE\n-A FORWARD -o vmb -j ACCEPT\n-A ISOLATE -d 10.2.0.2/32 -p icmp -j DROP\nCOMMIT\n*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -s 10.1.0.0/24 -o vmb -j MASQUERADE\nCOMMIT\n";

    #[test]
    fn reads_chains_hooks_policies_and_rules_by_handle() {
        let mut set = Ruleset::parse_nft(NFT);
        let forward = set.chain("ip", "filter", "FORWARD").unwrap();
        assert_eq!((forward.hook.as_deref(), forward.policy.as_deref()), (Some("forward"), Some("drop")));
        assert_eq!(forward.rules.len(), 2);
        assert_eq!(set.rule("ip", "filter", "FORWARD", 4).unwrap().nft, "jump ISOLATE");
        assert_eq!(set.rule("ip", "filter", "ISOLATE", 6).unwrap().nft, "meta l4proto icmp ip daddr 10.2.0.2 drop");
        assert_eq!(set.chain("ip", "filter", "ISOLATE").unwrap().hook, None);
        let input = set.chain("inet", "other", "input").unwrap();
        assert_eq!(input.rules.len(), 1, "the set's elements are not rules");
        assert_eq!(input.hook.as_deref(), Some("input"));

        set.attach_iptables_save(SAVE);
        assert_eq!(
            set.rule("ip", "filter", "ISOLATE", 6).unwrap().iptables.as_deref(),
            Some("-A ISOLATE -d 10.2.0.2/32 -p icmp -j DROP")
        );
        assert_eq!(
            set.rule("ip", "nat", "POSTROUTING", 2).unwrap().iptables.as_deref(),
            Some("-A POSTROUTING -s 10.1.0.0/24 -o vmb -j MASQUERADE")
        );
        assert_eq!(set.rule("inet", "other", "input", 3).unwrap().iptables, None);
    }

    #[test]
    fn a_chain_whose_rule_count_differs_keeps_nft_text_only() {
        let mut set = Ruleset::parse_nft(NFT);
        set.attach_iptables_save("*filter\n-A FORWARD -j ISOLATE\nCOMMIT\n");
        assert_eq!(set.rule("ip", "filter", "FORWARD", 4).unwrap().iptables, None);
    }
}

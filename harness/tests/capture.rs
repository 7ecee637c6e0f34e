//! Captures, against the tools that define them. tcpdump decides: which frames a filter keeps (the corpus in
//! fixtures/filters/ over pcaps recorded from the bundled suites), how frames read, and whether our pcap files
//! open. As root, the same corpus goes through the live path (frames injected on a veth between two throwaway
//! namespaces, captured by the kernel-filtered socket), a live capture keeps only what its filter matches, and a
//! bounded flood into a tiny receive buffer makes the kernel drop frames, which must be reported. Traffic stays
//! between interfaces of those namespaces; a guard removes them even when a test fails.

use reachlab::capture::{
    read_pcap, summarize, Capture, CaptureOptions, CaptureResult, PacketSummary, PcapFrame, PcapWriter, Protocol,
};
use reachlab::check::{CaptureAssertion, Observation, Outcome};
use reachlab::filter::{Filter, Program};
use reachlab::inventory::Inventory;
use reachlab::kernel::netlink::Netlink;
use reachlab::kernel::netns::{self, Netns};
use reachlab::probe::capture_checks::observe;
use reachlab::suite::Cidr;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, UNIX_EPOCH};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/filters")
}

fn has_tcpdump() -> bool {
    Command::new("tcpdump").arg("--version").output().is_ok_and(|o| o.status.success())
}

/// The recorded and crafted pcaps, by file stem.
fn pcaps() -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(fixtures().join("pcaps"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    out.sort();
    out
}

/// The corpus: (only this pcap, expression).
fn corpus() -> Vec<(Option<String>, String)> {
    let text = std::fs::read_to_string(fixtures().join("expressions.txt")).unwrap();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(": ") {
            Some((pcap, expr)) if !pcap.contains(' ') => (Some(pcap.to_string()), expr.to_string()),
            _ => (None, l.to_string()),
        })
        .collect()
}

/// Each pcap's lab: node → addresses.
fn nodes() -> BTreeMap<String, BTreeMap<String, Vec<Ipv4Addr>>> {
    toml::from_str(&std::fs::read_to_string(fixtures().join("nodes.toml")).unwrap()).unwrap()
}

/// The corpus expressions that apply to `pcap`, compiled by reachlab with that lab's nodes.
fn programs(pcap: &str, lab: &BTreeMap<String, Vec<Ipv4Addr>>) -> Vec<(String, Program)> {
    corpus()
        .into_iter()
        .filter(|(only, _)| only.as_deref().is_none_or(|o| o == pcap))
        .map(|(_, expr)| {
            let filter = Filter::parse(&expr, &|n| lab.contains_key(n)).unwrap_or_else(|e| panic!("{expr}: {e}"));
            let program = filter.compile(&|n| lab.get(n).cloned()).unwrap_or_else(|e| panic!("{expr}: {e}"));
            (expr, program)
        })
        .collect()
}

/// Frame `i` of a renumbered copy is stamped `T0 + i µs`, so tcpdump's `-tt` timestamps name frames exactly.
const T0: u64 = 1_000_000_000;

fn renumbered(frames: &[PcapFrame], dir: &Path) -> PathBuf {
    let path = dir.join("renumbered.pcap");
    let mut w = PcapWriter::create(&path).unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.write(UNIX_EPOCH + Duration::from_secs(T0) + Duration::from_micros(i as u64), &f.data, f.len);
    }
    w.finish().unwrap();
    path
}

/// The indices of the frames `tcpdump -r FILE EXPR` prints (FILE renumbered).
fn tcpdump_keeps(renumbered: &Path, expr: &str) -> Vec<usize> {
    let out = Command::new("tcpdump").args(["-nn", "-tt", "-r"]).arg(renumbered).arg(expr).output().unwrap();
    assert!(out.status.success(), "tcpdump rejects {expr:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(' ')?.0.strip_prefix(&format!("{T0}."))?.parse().ok())
        .collect()
}

fn filters_keep_exactly_the_frames_tcpdump_prints() {
    let nodes = nodes();
    let dir = tempfile::tempdir().unwrap();
    let (mut expressions, mut compared, mut kept) = (0, 0, 0);
    for (stem, pcap) in pcaps() {
        let frames = read_pcap(&pcap).unwrap();
        let copy = renumbered(&frames, dir.path());
        let lab = nodes.get(&stem).unwrap_or_else(|| panic!("no [{stem}] in nodes.toml"));
        for (expr, program) in programs(&stem, lab) {
            let ours: Vec<usize> = (0..frames.len()).filter(|&i| program.matches(&frames[i].data)).collect();
            let theirs = tcpdump_keeps(&copy, program.expression());
            assert_eq!(ours, theirs, "{stem}: `{expr}` (compiled as `{}`)", program.expression());
            expressions += 1;
            compared += frames.len();
            kept += ours.len();
        }
    }
    eprintln!(
        "{expressions} (expression, pcap) pairs over {} pcaps: {compared} frame verdicts, {kept} kept, all as tcpdump",
        pcaps().len()
    );
    assert!(corpus().len() >= 60);
}

/// tcpdump's lines for a pcap, continuation lines (VXLAN's inner frame) joined to their frame's, and the
/// 802.1Q tags that `-e` shows put first.
fn tcpdump_lines(pcap: &Path) -> Vec<String> {
    let run = |extra: &[&str]| {
        let out = Command::new("tcpdump").args(["-nn", "-tt", "-r"]).arg(pcap).args(extra).output().unwrap();
        assert!(out.status.success(), "tcpdump -r failed: {}", String::from_utf8_lossy(&out.stderr));
        let mut lines: Vec<String> = Vec::new();
        for l in String::from_utf8(out.stdout).unwrap().lines() {
            let stamped = l.split_once(' ').filter(|(t, _)| t.contains('.') && t.parse::<f64>().is_ok());
            match (stamped, lines.last_mut()) {
                (Some((_, rest)), _) => lines.push(rest.to_string()),
                (None, Some(last)) => {
                    last.push(' ');
                    last.push_str(l);
                }
                (None, None) => panic!("tcpdump printed {l:?} first"),
            }
        }
        lines
    };
    let plain = run(&[]);
    let with_link = run(&["-e"]);
    assert_eq!(plain.len(), with_link.len());
    plain
        .into_iter()
        .zip(with_link)
        .map(|(line, link)| {
            let tags: String = link
                .split(", ")
                .filter(|f| f.starts_with("vlan ") || f.contains(": vlan "))
                .map(|f| f.rsplit(": ").next().unwrap())
                .zip(link.split(", p ").skip(1).map(|p| p.split(',').next().unwrap()))
                .map(|(vlan, p)| format!("{vlan}, p {p}, "))
                .collect();
            format!("{tags}{line}")
        })
        .collect()
}

/// Whether every comma-separated field of our summary appears in tcpdump's line, in order (we leave out
/// tcpdump's sequence numbers, windows, options and group counts).
fn reads_like(ours: &str, theirs: &str) -> bool {
    let mut fields = theirs.split(", ");
    ours.split(", ").all(|f| fields.any(|t| t == f))
}

fn tcpdump_reads_our_pcap_files_as_we_summarize_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = 0;
    for (stem, pcap) in pcaps() {
        // Written again by our writer: what tcpdump reads is our file.
        let frames = read_pcap(&pcap).unwrap();
        let copy = renumbered(&frames, dir.path());
        assert_eq!(
            read_pcap(&copy).unwrap().iter().map(|f| &f.data).collect::<Vec<_>>(),
            frames.iter().map(|f| &f.data).collect::<Vec<_>>()
        );
        let theirs = tcpdump_lines(&copy);
        assert_eq!(theirs.len(), frames.len(), "{stem}");
        for (i, (frame, theirs)) in frames.iter().zip(&theirs).enumerate() {
            let ours = summarize(i + 1, Duration::ZERO, &frame.data).to_string();
            assert!(reads_like(&ours, theirs), "{stem} frame {}:\n ours:    {ours}\n tcpdump: {theirs}", i + 1);
            lines += 1;
        }
    }
    eprintln!("{lines} frames summarized as tcpdump reads them");
    let crafted = read_pcap(&fixtures().join("pcaps/crafted.pcap")).unwrap();
    let s = summarize(1, Duration::ZERO, &crafted[0].data);
    assert_eq!((s.vlans[0].id, s.src), (100, Some(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1)))));
    let vxlan = summarize(5, Duration::ZERO, &crafted[4].data).vxlan.expect("a VXLAN frame");
    assert_eq!((vxlan.vni, vxlan.inner.src), (42, Some(IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1)))));
}

/// Named namespaces removed on drop, so a failing test leaves nothing behind.
struct Namespaces(Vec<Netns>);

impl Namespaces {
    fn create(&mut self, name: &str) -> Netns {
        let ns = netns::create(name).unwrap_or_else(|e| panic!("failed to create namespace {name}: {e}"));
        self.0.push(ns.clone());
        ns
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in self.0.drain(..).rev() {
            if let Err(e) = netns::remove(&ns.path) {
                eprintln!("failed to remove namespace {}: {e}", ns.name);
            }
        }
    }
}

fn cidr(s: &str) -> Cidr {
    s.parse().unwrap()
}

/// Whether `ip -d link` shows `link` in `ns` with a non-zero promiscuity (`None` without iproute2).
fn promiscuity(ns: &Netns, link: &str) -> Option<String> {
    let out = Command::new("ip").args(["-n", &ns.name, "-d", "link", "show", link]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace().skip_while(|w| *w != "promiscuity").nth(1).map(str::to_string)
}

/// Two namespaces joined by a veth, `a_end` in the first and `b_end` in the second, each with its address (or
/// none). Without addresses, IPv6 is off in both, so the namespaces themselves send nothing. (Both ends in one
/// namespace would not do: traffic between two local addresses goes over `lo`, not the veth.)
async fn veth_lab(guard: &mut Namespaces, tag: &str, ends: [(&str, Option<&str>); 2]) -> (Netns, Netns) {
    let pid = std::process::id();
    let a = guard.create(&format!("rlcap-{pid}-{tag}a"));
    let b = guard.create(&format!("rlcap-{pid}-{tag}b"));
    if ends[0].1.is_none() {
        for ns in [&a, &b] {
            netns::within(ns, || {
                for conf in ["all", "default"] {
                    std::fs::write(format!("/proc/sys/net/ipv6/conf/{conf}/disable_ipv6"), "1")?;
                }
                Ok(())
            })
            .await
            .unwrap();
        }
    }
    let nl_a = Netlink::open(&a).await.unwrap();
    let nl_b = Netlink::open(&b).await.unwrap();
    nl_a.create_veth(ends[0].0, ends[1].0, &b, None).await.unwrap();
    for ((name, address), nl) in ends.iter().zip([&nl_a, &nl_b]) {
        if let Some(address) = address {
            nl.add_address(name, cidr(address)).await.unwrap();
        }
        nl.set_up(name).await.unwrap();
    }
    (a, b)
}

/// Runs `test` with the namespaces it creates removed afterwards, and checks they are gone.
async fn in_throwaway_namespaces<F, Fut>(seconds: u64, test: F)
where
    F: FnOnce(Namespaces) -> Fut,
    Fut: std::future::Future<Output = Vec<PathBuf>>,
{
    let paths = tokio::time::timeout(Duration::from_secs(seconds), test(Namespaces(Vec::new())))
        .await
        .expect("capture test timed out");
    for path in paths {
        assert!(!path.exists(), "{} left behind", path.display());
    }
}

fn eth_p_all() -> u16 {
    (libc::ETH_P_ALL as u16).to_be()
}

/// A plain packet socket on `interface` of the calling thread's namespace (the test's own: to inject frames
/// and to know when they have all arrived).
fn raw_socket(interface: &str) -> std::io::Result<socket2::Socket> {
    let socket =
        socket2::Socket::new(socket2::Domain::PACKET, socket2::Type::RAW, Some(i32::from(eth_p_all()).into()))?;
    let name = std::ffi::CString::new(interface).unwrap();
    // SAFETY: a valid NUL-terminated name.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    let addr = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as u16,
        sll_protocol: eth_p_all(),
        sll_ifindex: index as i32,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 0,
        sll_addr: [0; 8],
    };
    // SAFETY: a fully initialized sockaddr_ll and its size.
    let rc = unsafe {
        libc::bind(socket.as_raw_fd(), (&addr as *const libc::sockaddr_ll).cast(), std::mem::size_of_val(&addr) as u32)
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    socket.set_read_timeout(Some(Duration::from_millis(200)))?;
    Ok(socket)
}

async fn the_live_path_keeps_exactly_the_frames_tcpdump_prints() {
    in_throwaway_namespaces(120, |mut guard| async move {
        let (a, b) = veth_lab(&mut guard, "l", [("inject", None), ("capture", None)]).await;
        let nodes = nodes();
        let dir = tempfile::tempdir().unwrap();
        let (mut pairs, mut compared) = (0, 0);
        for (stem, pcap) in pcaps() {
            let frames = read_pcap(&pcap).unwrap();
            let copy = renumbered(&frames, dir.path());
            let mut running = Vec::new();
            for (i, (expr, program)) in programs(&stem, &nodes[&stem]).into_iter().enumerate() {
                let file = dir.path().join(format!("{stem}.{i}.pcap"));
                let capture = Capture::start(&b, "capture", program, file, CaptureOptions::default()).await.unwrap();
                running.push((expr, capture));
            }
            // Sent from a's end, received on b's, where the kernel takes 802.1Q tags out of the frames. Every frame
            // has passed every capture's filter once a plain socket on b's end has seen them all.
            let count = frames.len();
            let fence = netns::within(&b, || raw_socket("capture")).await.unwrap();
            let waiter = tokio::task::spawn_blocking(move || {
                let (mut seen, mut buf) = (0, vec![0u8; 70_000]);
                let deadline = Instant::now() + Duration::from_secs(10);
                while seen < count && Instant::now() < deadline {
                    if std::io::Read::read(&mut &fence, &mut buf).is_ok() {
                        seen += 1;
                    }
                }
                seen
            });
            let data: Vec<Vec<u8>> = frames.iter().map(|f| f.data.clone()).collect();
            let sent = netns::within(&a, move || {
                let out = raw_socket("inject")?;
                for frame in &data {
                    out.send(frame)?;
                }
                Ok(data.len())
            })
            .await
            .unwrap();
            assert_eq!((sent, waiter.await.unwrap()), (count, count), "{stem}: frames lost on the veth");
            for (expr, capture) in running {
                let result = capture.stop().await.unwrap();
                let theirs = tcpdump_keeps(&copy, &nodes_expression(&stem, &expr, &nodes));
                let kept: Vec<Vec<u8>> = read_pcap(&result.pcap).unwrap().into_iter().map(|f| f.data).collect();
                let wanted: Vec<Vec<u8>> = theirs.iter().map(|&i| frames[i].data.clone()).collect();
                assert_eq!(result.lost(), 0, "{stem}: `{expr}` lost frames");
                assert_eq!(kept, wanted, "{stem}: `{expr}`: kept frames {:?}", result.packets.iter().map(|p| p.to_string()).collect::<Vec<_>>());
                assert_eq!(result.packets.len(), wanted.len());
                pairs += 1;
                compared += count;
            }
        }
        eprintln!("live: {pairs} (expression, pcap) pairs, {compared} frames injected and judged by the kernel, all as tcpdump");
        let paths = guard.0.iter().map(|n| n.path.clone()).collect();
        drop(guard);
        paths
    })
    .await;
}

/// The expression a corpus line means for `stem`'s lab, as tcpdump gets it.
fn nodes_expression(stem: &str, expr: &str, nodes: &BTreeMap<String, BTreeMap<String, Vec<Ipv4Addr>>>) -> String {
    let lab = &nodes[stem];
    Filter::parse(expr, &|n| lab.contains_key(n)).unwrap().expression(&|n| lab.get(n).cloned()).unwrap()
}

async fn live_capture_keeps_only_matching_frames() {
    in_throwaway_namespaces(20, |mut guard| async move {
        let (a, b) = veth_lab(&mut guard, "", [("cap-a", Some("10.99.0.1/24")), ("cap-b", Some("10.99.0.2/24"))]).await;
        exercise(&a, &b).await;
        let paths = guard.0.iter().map(|n| n.path.clone()).collect();
        drop(guard);
        paths
    })
    .await;
}

async fn exercise(a: &Netns, b: &Netns) {
    let dir = tempfile::tempdir().unwrap();
    let client = Ipv4Addr::new(10, 99, 0, 1);
    let filter = Filter::parse("udp port 2020 and src client", &|n| n == "client").unwrap();
    let program = filter.compile(&|n| (n == "client").then(|| vec![client])).unwrap();
    let everything = Filter::all().compile(&|_| None).unwrap();
    let options = CaptureOptions::default();
    let filtered = Capture::start(a, "cap-a", program, dir.path().join("a.pcap"), options).await.unwrap();
    let all = Capture::start(b, "cap-b", everything, dir.path().join("b.pcap"), options).await.unwrap();
    if let Some(p) = promiscuity(a, "cap-a") {
        assert_eq!(p, "0", "a capture must not switch the interface to promiscuous mode");
    }

    let listener = netns::within(b, || {
        let s = UdpSocket::bind("10.99.0.2:2020")?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        Ok(s)
    })
    .await
    .unwrap();
    // From a socket created in namespace a: one datagram to an unbound port (answered with ICMP port
    // unreachable), then the one the filter is after. The first also makes ARP run.
    let sport = netns::within(a, || {
        let s = UdpSocket::bind("10.99.0.1:0")?;
        s.send_to(b"other", "10.99.0.2:9999")?;
        s.send_to(b"hello", "10.99.0.2:2020")?;
        Ok(s.local_addr()?.port())
    })
    .await
    .unwrap();
    let got = tokio::task::spawn_blocking(move || {
        let mut buf = [0; 16];
        listener.recv(&mut buf).map(|n| buf[..n].to_vec())
    })
    .await
    .unwrap()
    .expect("the datagram crossed the veth");
    assert_eq!(got, b"hello");

    let filtered = filtered.stop().await.unwrap();
    let all = all.stop().await.unwrap();

    // Only the matching datagram was queued by the kernel.
    assert_eq!(filtered.interface, "cap-a");
    let lines: Vec<String> = filtered.packets.iter().map(|p| p.to_string()).collect();
    assert_eq!(lines, [format!("IP 10.99.0.1.{sport} > 10.99.0.2.2020: UDP, length 5")]);
    let p = &filtered.packets[0];
    assert_eq!((p.index, p.src, p.dst), (1, Some(IpAddr::V4(client)), Some(IpAddr::V4(Ipv4Addr::new(10, 99, 0, 2)))));
    assert_eq!(p.protocol, Protocol::Udp { src_port: sport, dst_port: 2020 });
    assert!(p.outgoing, "the client's datagram was leaving cap-a, as the kernel says");
    let udp = Protocol::Udp { src_port: sport, dst_port: 2020 };
    let arrived = all.packets.iter().find(|p| p.protocol == udp).expect("cap-b saw the datagram");
    assert!(!arrived.outgoing, "… and arriving on cap-b");
    assert_eq!((filtered.dropped, filtered.unread), (0, 0));

    // The unfiltered capture on the other end saw the whole exchange, incoming and outgoing.
    let protocols: Vec<Protocol> = all.packets.iter().map(|p| p.protocol.clone()).collect();
    for wanted in [
        Protocol::Arp { op: 1, sender: client, target: Ipv4Addr::new(10, 99, 0, 2) },
        Protocol::Arp { op: 2, sender: Ipv4Addr::new(10, 99, 0, 2), target: client },
        Protocol::Udp { src_port: sport, dst_port: 9999 },
        Protocol::Udp { src_port: sport, dst_port: 2020 },
    ] {
        assert!(protocols.contains(&wanted), "{wanted:?} missing from {protocols:?}");
    }
    assert!(protocols.iter().any(|p| matches!(p, Protocol::Icmp { kind: 3, code: 3, .. })), "{protocols:?}");

    // The pcap files hold exactly the kept frames, and tcpdump reads them as we summarize them.
    for result in [&filtered, &all] {
        let frames = read_pcap(&result.pcap).unwrap();
        assert_eq!(frames.len(), result.packets.len());
        for (f, p) in frames.iter().zip(&result.packets) {
            // A pcap file does not keep a frame's direction; the live capture has it from the kernel.
            assert_eq!(PacketSummary { outgoing: p.outgoing, ..summarize(p.index, p.time, &f.data) }, *p);
        }
        if has_tcpdump() {
            for (ours, theirs) in result.packets.iter().zip(tcpdump_lines(&result.pcap)) {
                assert!(reads_like(&ours.to_string(), &theirs), "ours: {ours}\ntcpdump: {theirs}");
            }
        }
    }
}

/// Datagrams in the flood, and its time limit: bounded both ways.
const FLOOD: u64 = 200_000;
const FLOOD_LIMIT: Duration = Duration::from_secs(15);

async fn a_flood_into_a_tiny_buffer_reports_its_drops() {
    in_throwaway_namespaces(60, |mut guard| async move {
        let (a, b) = veth_lab(&mut guard, "f", [("fl-a", Some("10.99.1.1/24")), ("fl-b", Some("10.99.1.2/24"))]).await;
        let dir = tempfile::tempdir().unwrap();
        let program = Filter::parse("udp dst port 5001", &|_| false).unwrap().compile(&|_| None).unwrap();
        // The smallest buffer the kernel allows: a few frames.
        let tiny = CaptureOptions { receive_buffer: 1 };
        // On the sender's end, every datagram passes the tap as it is sent: the kernel's counters then account
        // for each of them.
        let capture = Capture::start(&a, "fl-a", program, dir.path().join("flood.pcap"), tiny).await.unwrap();
        let sink = netns::within(&b, || UdpSocket::bind("10.99.1.2:5001")).await.unwrap();
        let sent = netns::within(&a, || {
            let s = UdpSocket::bind("10.99.1.1:0")?;
            s.connect("10.99.1.2:5001")?;
            let start = Instant::now();
            let mut sent = 0u64;
            while sent < FLOOD && start.elapsed() < FLOOD_LIMIT {
                s.send(&sent.to_be_bytes())?;
                sent += 1;
            }
            Ok(sent)
        })
        .await
        .unwrap();
        drop(sink);
        let result: CaptureResult = capture.stop().await.unwrap();
        let kept = result.packets.len() as u64;
        eprintln!(
            "flood: {sent} datagrams sent, {kept} kept, {} dropped by the kernel, {} unread",
            result.dropped, result.unread
        );
        assert!(result.dropped > 0, "a tiny buffer under a flood must drop");
        assert_eq!(kept + result.dropped + result.unread, sent, "every datagram is kept or counted as lost");
        assert_eq!(read_pcap(&result.pcap).unwrap().len() as u64, kept);
        if has_tcpdump() {
            assert_eq!(
                tcpdump_keeps(&renumbered(&read_pcap(&result.pcap).unwrap(), dir.path()), "").len() as u64,
                kept
            );
        }

        let inventory = Inventory::default();
        // At most `sent - 1`: false in truth; we saw fewer, and the dropped frames could be the difference.
        let max = CaptureAssertion::Count { min: None, max: Some(sent - 1) };
        match observe(&max, &result, &inventory) {
            Observation::Error { detail, dropped, .. } => {
                let want = format!("the kernel dropped {} frames; this assertion cannot be judged", result.dropped);
                assert!(detail.starts_with(&want), "{detail}");
                assert_eq!(dropped, Some(result.lost()));
            }
            other => panic!("a max_packets the drops could break must be an error, not {other:?}"),
        }
        // At least one: already seen, and dropping can only take frames away from what was seen.
        let min = CaptureAssertion::Count { min: Some(1), max: None };
        assert!(matches!(
            observe(&min, &result, &inventory),
            Observation::Observed { outcome: Outcome::Assertion { holds: true, .. }, .. }
        ));
        let paths = guard.0.iter().map(|n| n.path.clone()).collect();
        drop(guard);
        paths
    })
    .await;
}

async fn capturing_on_a_missing_interface_says_where_it_looked() {
    let mut guard = Namespaces(Vec::new());
    let ns = guard.create(&format!("rlcap-{}-missing", std::process::id()));
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("x.pcap");
    let all = Filter::all().compile(&|_| None).unwrap();
    let err = Capture::start(&ns, "enp0s3", all, pcap.clone(), CaptureOptions::default()).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    assert_eq!(err.to_string(), format!("no interface enp0s3 in namespace {}", ns.name));
    assert!(!pcap.exists(), "no file is created when the capture cannot start");
}

/// A libtest-mimic harness, so the root-only tests are listed as ignored (never passed) without root, and the
/// tcpdump comparisons as ignored without tcpdump.
fn main() {
    let args = libtest_mimic::Arguments::from_args();
    let skip = reachlab::kernel::privilege::unprivileged_reason();
    let no_tcpdump = !has_tcpdump();
    fn failure(e: Box<dyn std::any::Any + Send>) -> libtest_mimic::Failed {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
            .into()
    }
    let catch = |f: fn()| move || std::panic::catch_unwind(f).map_err(failure);
    let run = |f: fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>| {
        move || {
            std::panic::catch_unwind(|| {
                let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
                rt.block_on(f())
            })
            .map_err(failure)
        }
    };
    use libtest_mimic::Trial;
    let trials = vec![
        Trial::test(
            "filters_keep_exactly_the_frames_tcpdump_prints",
            catch(filters_keep_exactly_the_frames_tcpdump_prints),
        )
        .with_ignored_flag(no_tcpdump),
        Trial::test(
            "tcpdump_reads_our_pcap_files_as_we_summarize_them",
            catch(tcpdump_reads_our_pcap_files_as_we_summarize_them),
        )
        .with_ignored_flag(no_tcpdump),
        Trial::test(
            "the_live_path_keeps_exactly_the_frames_tcpdump_prints",
            run(|| Box::pin(the_live_path_keeps_exactly_the_frames_tcpdump_prints())),
        )
        .with_ignored_flag(skip.is_some() || no_tcpdump),
        Trial::test(
            "live_capture_keeps_only_matching_frames",
            run(|| Box::pin(live_capture_keeps_only_matching_frames())),
        )
        .with_ignored_flag(skip.is_some()),
        Trial::test(
            "a_flood_into_a_tiny_buffer_reports_its_drops",
            run(|| Box::pin(a_flood_into_a_tiny_buffer_reports_its_drops())),
        )
        .with_ignored_flag(skip.is_some()),
        Trial::test(
            "capturing_on_a_missing_interface_says_where_it_looked",
            run(|| Box::pin(capturing_on_a_missing_interface_says_where_it_looked())),
        )
        .with_ignored_flag(skip.is_some()),
    ];
    libtest_mimic::run(&args, trials).exit();
}

//! Captures: pcap files that tcpdump reads line for line like our summaries, and (as root) a live capture on a
//! veth between two throwaway namespaces. Traffic stays between 10.99.0.0/24 addresses inside those namespaces;
//! a guard removes them even when the test fails.

use reachlab::capture::{self, read_pcap, summarize, BoundFilter, Capture, PcapWriter, Protocol};
use reachlab::kernel::netlink::Netlink;
use reachlab::kernel::netns::{self, Netns};
use reachlab::suite::Cidr;
use std::net::{Ipv4Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

/// `tcpdump -r FILE -nn` output lines without their timestamps, or `None` (with a notice) without tcpdump.
fn tcpdump_lines(pcap: &Path) -> Option<Vec<String>> {
    let out = match Command::new("tcpdump").arg("-r").arg(pcap).arg("-nn").output() {
        Ok(out) => out,
        Err(e) => {
            eprintln!("NOTICE: tcpdump not runnable ({e}); not cross-checking {} with it", pcap.display());
            return None;
        }
    };
    assert!(out.status.success(), "tcpdump -r failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("tcpdump output is UTF-8");
    // "12:00:00.000001 IP 10.0.0.1.5 > …": drop the timestamp and tcpdump's "IP " layer prefix.
    Some(
        text.lines()
            .map(|l| l.split_once(' ').map_or(l, |(_, rest)| rest))
            .map(|l| l.strip_prefix("IP ").unwrap_or(l).to_string())
            .collect(),
    )
}

fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn ipv4_udp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, data: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&((28 + data.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 1, 0x40, 0, 64, 17, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(data);
    ethernet(0x0800, &p)
}

fn tcpdump_reads_our_pcap_files_as_we_summarize_them() {
    let arp_request = {
        let mut a = vec![0, 1, 8, 0, 6, 4, 0, 1, 0x02, 0, 0, 0, 0, 1, 192, 168, 56, 4, 0, 0, 0, 0, 0, 0];
        a.extend_from_slice(&[192, 168, 56, 3]);
        ethernet(0x0806, &a)
    };
    let frames = [ipv4_udp([192, 168, 56, 4], 40000, [192, 168, 56, 3], 2020, b"hello you"), arp_request];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frames.pcap");
    let mut writer = PcapWriter::new(std::fs::File::create(&path).unwrap()).unwrap();
    let t0 = SystemTime::now();
    for (i, f) in frames.iter().enumerate() {
        writer.write_packet(t0 + Duration::from_millis(i as u64), f).unwrap();
    }
    writer.finish().unwrap();

    let read = read_pcap(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(read.iter().map(|(_, f)| f.clone()).collect::<Vec<_>>(), frames);
    let ours: Vec<String> = frames.iter().map(|f| summarize(1, Duration::ZERO, f).to_string()).collect();
    assert_eq!(ours[0], "192.168.56.4.40000 > 192.168.56.3.2020: UDP, length 9");
    if let Some(theirs) = tcpdump_lines(&path) {
        assert_eq!(theirs, ours);
    }
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

/// Two namespaces joined by a veth: cap-a 10.99.0.1/24 in the first, cap-b 10.99.0.2/24 in the second. (Both
/// ends in one namespace would not do: traffic between two local addresses goes over `lo`, not the veth.)
async fn veth_lab(guard: &mut Namespaces, tag: &str) -> (Netns, Netns) {
    let pid = std::process::id();
    let a = guard.create(&format!("rlcap-{pid}-{tag}a"));
    let b = guard.create(&format!("rlcap-{pid}-{tag}b"));
    let nl_a = Netlink::open(&a).await.unwrap();
    let nl_b = Netlink::open(&b).await.unwrap();
    nl_a.create_veth("cap-a", "cap-b", &b, None).await.unwrap();
    nl_a.add_address("cap-a", cidr("10.99.0.1/24")).await.unwrap();
    nl_b.add_address("cap-b", cidr("10.99.0.2/24")).await.unwrap();
    nl_a.set_up("cap-a").await.unwrap();
    nl_b.set_up("cap-b").await.unwrap();
    (a, b)
}

async fn live_capture_keeps_only_matching_frames() {
    let mut guard = Namespaces(Vec::new());
    let (a, b) = veth_lab(&mut guard, "").await;
    let names: Vec<PathBuf> = guard.0.iter().map(|n| n.path.clone()).collect();
    tokio::time::timeout(Duration::from_secs(20), exercise(&a, &b)).await.expect("capture test timed out");
    drop(guard);
    for path in names {
        assert!(!path.exists(), "{} left behind", path.display());
    }
}

async fn exercise(a: &Netns, b: &Netns) {
    let dir = tempfile::tempdir().unwrap();
    let client = Ipv4Addr::new(10, 99, 0, 1);
    let filter = capture::parse("udp port 2020 and src client")
        .unwrap()
        .bind(&|n| (n == "client").then(|| vec![client]))
        .unwrap();
    let filtered = Capture::start(a, "cap-a", filter, dir.path().join("a.pcap")).await.unwrap();
    let everything = Capture::start(b, "cap-b", BoundFilter::all(), dir.path().join("b.pcap")).await.unwrap();
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
    let everything = everything.stop().await.unwrap();

    // Only the matching datagram is kept, but everything on the link was seen: ARP both ways, two datagrams out,
    // the ICMP error in (and possibly IPv6 chatter).
    assert_eq!(filtered.interface, "cap-a");
    let lines: Vec<String> = filtered.packets.iter().map(|p| p.to_string()).collect();
    assert_eq!(lines, [format!("10.99.0.1.{sport} > 10.99.0.2.2020: UDP, length 5")]);
    let p = &filtered.packets[0];
    assert_eq!((p.index, p.src, p.dst), (1, Some(client), Some(Ipv4Addr::new(10, 99, 0, 2))));
    assert_eq!(p.protocol, Protocol::Udp { src_port: sport, dst_port: 2020 });
    assert!(filtered.seen >= 5, "seen {} frames", filtered.seen);
    assert_eq!(filtered.dropped, 0);

    // The unfiltered capture on the other end saw the whole exchange, incoming and outgoing.
    let protocols: Vec<Protocol> = everything.packets.iter().map(|p| p.protocol).collect();
    assert_eq!(everything.seen, everything.packets.len());
    for wanted in [
        Protocol::Arp { op: 1, sender: client, target: Ipv4Addr::new(10, 99, 0, 2) },
        Protocol::Arp { op: 2, sender: Ipv4Addr::new(10, 99, 0, 2), target: client },
        Protocol::Udp { src_port: sport, dst_port: 9999 },
        Protocol::Udp { src_port: sport, dst_port: 2020 },
        Protocol::Icmp { kind: 3, code: 3 },
    ] {
        assert!(protocols.contains(&wanted), "{wanted:?} missing from {protocols:?}");
    }

    // The pcap files hold exactly the kept frames, and tcpdump reads them as we summarize them.
    for result in [&filtered, &everything] {
        let frames = read_pcap(&std::fs::read(&result.pcap).unwrap()).unwrap();
        assert_eq!(frames.len(), result.packets.len());
        for ((_, frame), p) in frames.iter().zip(&result.packets) {
            assert_eq!(summarize(p.index, p.time, frame), *p);
        }
    }
    if let Some(theirs) = tcpdump_lines(&filtered.pcap) {
        assert_eq!(theirs, lines);
    }
}

async fn capturing_on_a_missing_interface_says_where_it_looked() {
    let mut guard = Namespaces(Vec::new());
    let ns = guard.create(&format!("rlcap-{}-missing", std::process::id()));
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("x.pcap");
    let err = Capture::start(&ns, "enp0s3", BoundFilter::all(), pcap.clone()).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    assert_eq!(err.to_string(), format!("no interface enp0s3 in namespace {}", ns.name));
    assert!(!pcap.exists(), "no file is created when the capture cannot start");
}

/// A libtest-mimic harness, so the root-only tests are listed as ignored (never passed) without root.
fn main() {
    let args = libtest_mimic::Arguments::from_args();
    let skip = reachlab::kernel::privilege::unprivileged_reason();
    let run = |f: fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>| {
        move || {
            std::panic::catch_unwind(|| {
                let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
                rt.block_on(f())
            })
            .map_err(|e| {
                e.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
                    .into()
            })
        }
    };
    let trials = vec![
        libtest_mimic::Trial::test("tcpdump_reads_our_pcap_files_as_we_summarize_them", || {
            std::panic::catch_unwind(tcpdump_reads_our_pcap_files_as_we_summarize_them).map_err(|_| "panicked".into())
        }),
        libtest_mimic::Trial::test(
            "live_capture_keeps_only_matching_frames",
            run(|| Box::pin(live_capture_keeps_only_matching_frames())),
        )
        .with_ignored_flag(skip.is_some()),
        libtest_mimic::Trial::test(
            "capturing_on_a_missing_interface_says_where_it_looked",
            run(|| Box::pin(capturing_on_a_missing_interface_says_where_it_looked())),
        )
        .with_ignored_flag(skip.is_some()),
    ];
    libtest_mimic::run(&args, trials).exit();
}

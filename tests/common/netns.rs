//! Test hosts in Linux network namespaces, for partitions: each validator runs in a namespace
//! of its own with one address, all joined by a bridge that lives in a further "switch"
//! namespace (so the host's firewall, Docker's FORWARD policy among it, never sees their
//! traffic), and the test process reaches every node through a veth pair into that bridge.
//!
//! ```text
//!  test process (host)  10.S.0.1 ── veth ──┐
//!                                           │   switch namespace: bridge
//!  node0 ns  10.S.0.2  eth0 ── veth ────────┤
//!  node1 ns  10.S.0.3  eth0 ── veth ────────┤
//!  ...                                      ┘
//! ```
//!
//! A partition drops, in each node's own namespace, what arrives from the nodes on the other
//! side (`iptables -A INPUT -s <ip> -j DROP`): packets vanish without an error, as on a cut
//! link, so TCP connections go silent rather than closing (where iptables cannot work in a
//! namespace, blackhole routes cut instead). The test process keeps reaching every node.
//! Needs root and `ip` (iproute2), and `iptables` for silent drops; everything is removed on
//! drop.

use std::net::Ipv4Addr;
use std::process::Command;

/// Namespaces, links and the drop rules in force; removed when dropped.
pub struct Hosts {
    /// Prefix of every name this set created (namespaces and links), unique per process.
    tag: String,
    /// The second octet of the 10.S.0.0/24 subnet.
    subnet: u8,
    n: usize,
    /// Pairs of nodes cut from each other.
    cuts: Vec<(usize, usize)>,
    /// Cuts are made with blackhole routes (iptables did not work here).
    blackholes: bool,
}

fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Hosts {
    /// Why hosts cannot be made here, if they cannot: not root, or no `ip`.
    pub fn unavailable() -> Option<String> {
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        if uid.as_deref() != Some("0") {
            return Some("network namespaces need root".into());
        }
        let found = Command::new("sh")
            .args(["-c", "command -v ip"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some("`ip` is not installed (Debian: apt-get install iproute2)".into());
        }
        None
    }

    /// `n` hosts, each in its own namespace, joined by a bridge in a switch namespace.
    pub fn create(n: usize) -> Result<Hosts, String> {
        let pid = std::process::id();
        let hosts = Hosts {
            tag: format!("sn{}", pid % 100_000),
            subnet: 100 + (pid % 100) as u8,
            n,
            cuts: Vec::new(),
            blackholes: false,
        };
        hosts.remove();
        hosts.build().inspect_err(|_| hosts.remove())?;
        Ok(hosts)
    }

    fn switch(&self) -> String {
        format!("{}sw", self.tag)
    }

    fn ns(&self, i: usize) -> String {
        format!("{}n{i}", self.tag)
    }

    /// Node `i`'s address.
    pub fn ip(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, self.subnet, 0, 2 + i as u8)
    }

    /// Every node's address, in order.
    pub fn ips(&self) -> Vec<Ipv4Addr> {
        (0..self.n).map(|i| self.ip(i)).collect()
    }

    /// The command prefix that runs a program in node `i`'s namespace.
    pub fn launcher(&self, i: usize) -> Vec<String> {
        vec!["ip".into(), "netns".into(), "exec".into(), self.ns(i)]
    }

    fn build(&self) -> Result<(), String> {
        let sw = self.switch();
        let br = format!("{}br", self.tag);
        run(&["ip", "netns", "add", &sw])?;
        run(&["ip", "-n", &sw, "link", "add", &br, "type", "bridge"])?;
        run(&["ip", "-n", &sw, "link", "set", &br, "up"])?;
        // The host's leg: 10.S.0.1 in the host, its peer on the bridge.
        let host = format!("{}h", self.tag);
        let host_peer = format!("{}hp", self.tag);
        run(&[
            "ip", "link", "add", &host, "type", "veth", "peer", "name", &host_peer, "netns", &sw,
        ])?;
        let host_ip = format!("10.{}.0.1/24", self.subnet);
        run(&["ip", "addr", "add", &host_ip, "dev", &host])?;
        run(&["ip", "link", "set", &host, "up"])?;
        run(&["ip", "-n", &sw, "link", "set", &host_peer, "master", &br])?;
        run(&["ip", "-n", &sw, "link", "set", &host_peer, "up"])?;
        for i in 0..self.n {
            let ns = self.ns(i);
            let leg = format!("{}v{i}", self.tag);
            run(&["ip", "netns", "add", &ns])?;
            run(&[
                "ip", "-n", &sw, "link", "add", &leg, "type", "veth", "peer", "name", "eth0",
                "netns", &ns,
            ])?;
            run(&["ip", "-n", &sw, "link", "set", &leg, "master", &br])?;
            run(&["ip", "-n", &sw, "link", "set", &leg, "up"])?;
            let addr = format!("{}/24", self.ip(i));
            run(&["ip", "-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
            run(&["ip", "-n", &ns, "link", "set", "eth0", "up"])?;
            run(&["ip", "-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    /// Cut every node of `a` from every node of `b` (both directions); the test still reaches
    /// them all. Packets are dropped silently on arrival (`iptables`); where the kernel has no
    /// netfilter for the namespace, each side instead gets a blackhole route to the other
    /// (its sends fail at once rather than vanish), said once on stderr.
    pub fn cut(&mut self, a: &[usize], b: &[usize]) -> Result<(), String> {
        for &x in a {
            for &y in b {
                for (to, from) in [(x, y), (y, x)] {
                    let src = self.ip(from).to_string();
                    let ns = self.ns(to);
                    let drop_rule = ["ip", "netns", "exec", &ns, "iptables", "-A", "INPUT"];
                    let dropped = run(&[&drop_rule[..], &["-s", &src, "-j", "DROP"]].concat());
                    if let Err(why) = dropped {
                        if !self.blackholes {
                            eprintln!(
                                "netns: iptables unusable ({why}); cutting by blackhole routes"
                            );
                            self.blackholes = true;
                        }
                        let dst = format!("{src}/32");
                        run(&["ip", "-n", &ns, "route", "add", "blackhole", &dst])?;
                    }
                }
                self.cuts.push((x, y));
            }
        }
        Ok(())
    }

    /// Lift every cut.
    pub fn heal(&mut self) -> Result<(), String> {
        for &(x, y) in &self.cuts {
            for (to, from) in [(x, y), (y, x)] {
                let dst = format!("{}/32", self.ip(from));
                // Each cut used one of the two ways; removing the other finds nothing.
                let _ = run(&["ip", "-n", &self.ns(to), "route", "del", "blackhole", &dst]);
            }
        }
        for i in 0..self.n {
            let _ = run(&[
                "ip",
                "netns",
                "exec",
                &self.ns(i),
                "iptables",
                "-F",
                "INPUT",
            ]);
        }
        self.cuts.clear();
        Ok(())
    }

    /// Whether any cut is in force.
    pub fn is_cut(&self) -> bool {
        !self.cuts.is_empty()
    }

    /// Remove everything this set may have made (also what a crashed earlier run of the same
    /// process id left); errors are ignored (most of it may not exist).
    fn remove(&self) {
        let quiet = |args: &[&str]| {
            let _ = Command::new(args[0]).args(&args[1..]).output();
        };
        for i in 0..self.n {
            quiet(&["ip", "netns", "del", &self.ns(i)]);
        }
        quiet(&["ip", "netns", "del", &self.switch()]);
        quiet(&["ip", "link", "del", &format!("{}h", self.tag)]);
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        self.remove();
    }
}

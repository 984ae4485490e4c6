//! Running a network of real `settlenet node start` processes on this machine (for `testnet
//! start`, `demo` and `bench`).

use crate::client::Client;
use anyhow::{bail, Context, Result};
use settlenet_node::testnet::NodeEntry;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Child node processes; killed (SIGTERM, then SIGKILL) when dropped.
pub struct LocalNet {
    /// The node entries (from nodes.json).
    pub nodes: Vec<NodeEntry>,
    /// One process per node (None while a node is stopped).
    pub children: Vec<Option<Child>>,
    exe: PathBuf,
}

impl LocalNet {
    /// Start every node of `entries` as a child process, logging to `<home>/node.log`.
    pub fn start(entries: Vec<NodeEntry>, log_filter: &str) -> Result<LocalNet> {
        let exe = std::env::current_exe().context("locating the settlenet binary")?;
        let mut net = LocalNet {
            nodes: entries,
            children: Vec::new(),
            exe,
        };
        for i in 0..net.nodes.len() {
            let child = net.spawn(i, log_filter)?;
            net.children.push(Some(child));
        }
        Ok(net)
    }

    fn spawn(&self, i: usize, log_filter: &str) -> Result<Child> {
        let home = &self.nodes[i].home;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(home.join("node.log"))
            .with_context(|| format!("opening {}/node.log", home.display()))?;
        let log2 = log.try_clone()?;
        Command::new(&self.exe)
            .arg("node")
            .arg("start")
            .arg("--home")
            .arg(home)
            .env("RUST_LOG", log_filter)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .with_context(|| format!("starting {}", self.nodes[i].name))
    }

    /// Stop node `i` (SIGTERM, then SIGKILL after 10 s); a stopped node stays stopped.
    pub fn stop_node(&mut self, i: usize) {
        if let Some(mut child) = self.children.get_mut(i).and_then(Option::take) {
            terminate(&child);
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(50))
                    }
                    _ => {
                        child.kill().ok();
                        child.wait().ok();
                        break;
                    }
                }
            }
        }
    }

    /// Start node `i` again (from its own data directory) if it is stopped.
    pub fn start_node(&mut self, i: usize, log_filter: &str) -> Result<()> {
        if self.children.get(i).is_some_and(Option::is_none) {
            let child = self.spawn(i, log_filter)?;
            self.children[i] = Some(child);
        }
        Ok(())
    }

    /// Clients for every node.
    pub fn clients(&self) -> Result<Vec<Client>> {
        self.nodes.iter().map(|n| Client::new(&n.api)).collect()
    }

    /// Check no child has exited; name the first that did.
    pub fn check_alive(&mut self) -> Result<()> {
        for (i, c) in self.children.iter_mut().enumerate() {
            if let Some(c) = c {
                if let Some(status) = c.try_wait()? {
                    bail!(
                        "{} exited ({status}); see {}/node.log",
                        self.nodes[i].name,
                        self.nodes[i].home.display()
                    );
                }
            }
        }
        Ok(())
    }

    /// Wait until every running node answers and sees all its peers.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        let clients = self.clients()?;
        let n = self.nodes.len();
        loop {
            self.check_alive()?;
            let mut ready = 0;
            for (i, c) in clients.iter().enumerate() {
                if self.children[i].is_none() {
                    ready += 1;
                    continue;
                }
                if let Ok(s) = c.status().await {
                    let peers = s.peers.len();
                    if peers + 1 >= n {
                        ready += 1;
                    }
                }
            }
            if ready == n {
                return Ok(());
            }
            if start.elapsed() > timeout {
                bail!("the network did not come up within {timeout:?} (see the node.log files)");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stop all nodes: SIGTERM, wait up to 10 s, then SIGKILL.
    pub fn stop(&mut self) {
        for c in self.children.iter_mut().flatten() {
            terminate(c);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for c in self.children.iter_mut() {
            if let Some(child) = c {
                loop {
                    match child.try_wait() {
                        Ok(Some(_)) => break,
                        Ok(None) if Instant::now() < deadline => {
                            std::thread::sleep(Duration::from_millis(50))
                        }
                        _ => {
                            child.kill().ok();
                            child.wait().ok();
                            break;
                        }
                    }
                }
            }
            *c = None;
        }
    }
}

impl Drop for LocalNet {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Ask a child to stop gracefully (SIGTERM).
fn terminate(child: &Child) {
    #[cfg(unix)]
    {
        // `kill -TERM <pid>`: std has no SIGTERM API and we forbid unsafe code.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Pick `n` free loopback ports (bind to port 0 and release).
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    let mut listeners = Vec::new();
    for _ in 0..n {
        listeners.push(std::net::TcpListener::bind("127.0.0.1:0")?);
    }
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// Create a testnet with free ports in `dir`.
pub fn init_free(dir: &Path, validators: usize) -> Result<Vec<NodeEntry>> {
    let ports = free_ports(2 * validators)?;
    let opts = settlenet_node::testnet::TestnetOptions {
        validators,
        ports: Some(
            (0..validators)
                .map(|i| (ports[2 * i], ports[2 * i + 1]))
                .collect(),
        ),
        ..Default::default()
    };
    Ok(settlenet_node::testnet::init(dir, &opts)?)
}

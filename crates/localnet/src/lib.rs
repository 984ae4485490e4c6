//! A local network of real `settlenet node start` processes on loopback: the one runner behind
//! `settlenet testnet start`, `settlenet demo`, `settlenet bench` and the end-to-end tests.
//!
//! # Overview
//!
//! ```text
//!  caller (CLI command or test)
//!     │  init_free(dir, options)         writes genesis, homes, keys, nodes.json (free ports)
//!     │  LocalNet::start(binary, ...)    one child process per validator
//!     │  wait_ready(timeout)             every running node answers and sees all its peers
//!     │  kill9 / sigstop / sigcont / stop_node / start_node / wipe_data   faults, by index
//!     ▼
//!  settlenet node start --home <home>    ×N, stdout and stderr appended to <home>/node.log
//! ```
//!
//! # Design
//!
//! The runner is given the path of the `settlenet` binary rather than finding it: the CLI
//! passes `std::env::current_exe()`, a test passes `env!("CARGO_BIN_EXE_settlenet")`. It
//! knows processes, directories and readiness only; what a test asserts about the nodes'
//! answers (heights, roots, agreement) stays in the test, which reads them through
//! [`settlenet_api::client::Client`].
//!
//! Signals go through the `kill` program: std has no SIGTERM/SIGSTOP API and the workspace
//! forbids unsafe code.
//!
//! # Invariants
//!
//! - A node's child is `Some` exactly while the runner started it and has not stopped or
//!   killed it; every stop waits for the process, so no zombie is left behind.
//! - Dropping a [`LocalNet`] stops every node it still runs (SIGTERM, then SIGKILL after
//!   [`STOP_GRACE`]); [`LocalNet::kill_all`] ends them at once, frozen ones included.

use settlenet_api::client::{Client, ClientError};
use settlenet_node::testnet::{NodeEntry, TestnetOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a node has to exit after SIGTERM before it gets SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// How often [`LocalNet::wait_ready`] polls the nodes.
const READY_POLL: Duration = Duration::from_millis(100);

/// How long a readiness probe waits for one node's status (a frozen node never answers).
const READY_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What running a local network can fail with.
#[derive(Debug, thiserror::Error)]
pub enum LocalNetError {
    /// `testnet init` failed.
    #[error("creating the testnet")]
    Init(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A file or directory of a node could not be used.
    #[error("{what} {}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Free loopback ports could not be picked.
    #[error("picking free loopback ports")]
    Ports(#[source] std::io::Error),
    /// A node process could not be started.
    #[error("starting {node}")]
    Spawn {
        /// The node's name.
        node: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A node process exited while the runner expected it to run.
    #[error("{node} exited ({status}); see {}/node.log", home.display())]
    Exited {
        /// The node's name.
        node: String,
        /// How it exited.
        status: ExitStatus,
        /// Its home directory (its log is there).
        home: PathBuf,
    },
    /// Waiting for a child failed.
    #[error("waiting for {node}")]
    Wait {
        /// The node's name.
        node: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A signal could not be sent to a node.
    #[error("kill {signal} {node}: {reason}")]
    Signal {
        /// The signal, as `kill` takes it (`-STOP`).
        signal: &'static str,
        /// The node's name.
        node: String,
        /// Why.
        reason: String,
    },
    /// The nodes did not all come up.
    #[error("the network did not come up within {timeout:?} (see the node.log files)")]
    NotReady {
        /// How long [`LocalNet::wait_ready`] waited.
        timeout: Duration,
    },
    /// A client for a node could not be made.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// The result of a [`LocalNet`] operation.
pub type Result<T> = std::result::Result<T, LocalNetError>;

/// Pick `n` free loopback ports (bind each to port 0, read it, release them together).
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(LocalNetError::Ports)?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr().map_err(LocalNetError::Ports)?.port()))
        .collect()
}

/// `testnet init` into `dir` with `options`, each validator on two free loopback ports (any
/// `options.ports` is replaced).
pub fn init_free(dir: &Path, mut options: TestnetOptions) -> Result<Vec<NodeEntry>> {
    let n = options.validators;
    let ports = free_ports(2 * n)?;
    options.ports = Some((0..n).map(|i| (ports[2 * i], ports[2 * i + 1])).collect());
    settlenet_node::testnet::init(dir, &options).map_err(|e| LocalNetError::Init(e.into()))
}

/// One validator: its entry in `nodes.json` and its process while it runs.
struct Node {
    /// Name, home, API URL and member, as `testnet init` wrote them.
    entry: NodeEntry,
    /// The running process; `None` while the node is stopped.
    child: Option<Child>,
    /// Extra environment for the process (test hooks such as a clock offset).
    env: Vec<(String, String)>,
    /// A command the node is run under (e.g. `ip netns exec NAME`, which execs the node in
    /// place, so the process id stays the node's); empty: run directly.
    launcher: Vec<String>,
}

/// Child node processes, by index in `nodes.json` order; stopped when dropped.
pub struct LocalNet {
    /// The validators, in `nodes.json` order.
    nodes: Vec<Node>,
    /// The `settlenet` binary the nodes run.
    binary: PathBuf,
    /// `RUST_LOG` for every node.
    log_filter: String,
}

impl LocalNet {
    /// Start every node of `entries` as a child process of `binary`, logging to
    /// `<home>/node.log` with `RUST_LOG=log_filter`.
    pub fn start(
        binary: impl Into<PathBuf>,
        entries: Vec<NodeEntry>,
        log_filter: &str,
    ) -> Result<LocalNet> {
        LocalNet::start_with_env(binary, entries, log_filter, &[])
    }

    /// Like [`LocalNet::start`], with `env[i]` added to node i's environment (`env` may be
    /// shorter than `entries`); the environment is kept for restarts.
    pub fn start_with_env(
        binary: impl Into<PathBuf>,
        entries: Vec<NodeEntry>,
        log_filter: &str,
        env: &[Vec<(String, String)>],
    ) -> Result<LocalNet> {
        LocalNet::start_launched(binary, entries, log_filter, env, &[])
    }

    /// Like [`LocalNet::start_with_env`], node i run under the command `launchers[i]` (for
    /// example `ip netns exec NAME`, which must exec the node in place); kept for restarts.
    pub fn start_launched(
        binary: impl Into<PathBuf>,
        entries: Vec<NodeEntry>,
        log_filter: &str,
        env: &[Vec<(String, String)>],
        launchers: &[Vec<String>],
    ) -> Result<LocalNet> {
        let mut net = LocalNet {
            nodes: entries
                .into_iter()
                .enumerate()
                .map(|(i, entry)| Node {
                    entry,
                    child: None,
                    env: env.get(i).cloned().unwrap_or_default(),
                    launcher: launchers.get(i).cloned().unwrap_or_default(),
                })
                .collect(),
            binary: binary.into(),
            log_filter: log_filter.to_string(),
        };
        for i in 0..net.nodes.len() {
            net.start_node(i)?;
        }
        Ok(net)
    }

    /// How many validators the network has (running or not).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the network has no validators.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node `i`'s entry in `nodes.json`.
    pub fn entry(&self, i: usize) -> &NodeEntry {
        &self.nodes[i].entry
    }

    /// Every node's entry, in order.
    pub fn entries(&self) -> impl Iterator<Item = &NodeEntry> {
        self.nodes.iter().map(|n| &n.entry)
    }

    /// Node `i`'s API base URL.
    pub fn api(&self, i: usize) -> &str {
        &self.nodes[i].entry.api
    }

    /// Whether node `i` runs (as far as the runner knows: it may have exited since).
    pub fn is_running(&self, i: usize) -> bool {
        self.nodes[i].child.is_some()
    }

    /// Node `i`'s process id while it runs (to read its `/proc` entry, for example).
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.nodes[i].child.as_ref().map(Child::id)
    }

    /// A client for node `i`.
    pub fn client(&self, i: usize) -> Result<Client> {
        Ok(Client::new(self.api(i))?)
    }

    /// Clients for every node, in order.
    pub fn clients(&self) -> Result<Vec<Client>> {
        (0..self.nodes.len()).map(|i| self.client(i)).collect()
    }

    /// Node `i`'s RocksDB directory.
    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.nodes[i].entry.home.join("data")
    }

    /// Everything node `i` wrote to its log so far (empty if there is no log yet).
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.nodes[i].entry.home.join("node.log")).unwrap_or_default()
    }

    /// Start node `i` (from its own data directory) if it is stopped.
    pub fn start_node(&mut self, i: usize) -> Result<()> {
        if self.nodes[i].child.is_some() {
            return Ok(());
        }
        let node = &self.nodes[i];
        let log_path = node.entry.home.join("node.log");
        let io = |source| LocalNetError::Io {
            what: "opening",
            path: log_path.clone(),
            source,
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io)?;
        let log2 = log.try_clone().map_err(io)?;
        let mut command = match node.launcher.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(&self.binary);
                c
            }
            None => Command::new(&self.binary),
        };
        let child = command
            .args(["node", "start", "--home"])
            .arg(&node.entry.home)
            .env("RUST_LOG", &self.log_filter)
            .envs(node.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|source| LocalNetError::Spawn {
                node: node.entry.name.clone(),
                source,
            })?;
        self.nodes[i].child = Some(child);
        Ok(())
    }

    /// Stop node `i` gracefully (SIGTERM, then SIGKILL after [`STOP_GRACE`]); it stays
    /// stopped until [`LocalNet::start_node`].
    pub fn stop_node(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            terminate(&child);
            reap(&mut child, Instant::now() + STOP_GRACE);
        }
    }

    /// Crash node `i` (SIGKILL, which also ends a frozen process) and wait for it.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }

    /// Freeze node `i` (SIGSTOP): its sockets stay open, it answers nothing.
    pub fn sigstop(&self, i: usize) -> Result<()> {
        self.signal(i, "-STOP")
    }

    /// Resume node `i` after [`LocalNet::sigstop`] (SIGCONT).
    pub fn sigcont(&self, i: usize) -> Result<()> {
        self.signal(i, "-CONT")
    }

    /// Delete node `i`'s data directory and leave it empty, as a replaced disk would be.
    /// Crash or stop the node first.
    pub fn wipe_data(&self, i: usize) -> Result<()> {
        assert!(
            !self.is_running(i),
            "wipe_data: {} is running",
            self.nodes[i].entry.name
        );
        let data = self.data_dir(i);
        let io = |what| {
            let path = data.clone();
            move |source| LocalNetError::Io { what, path, source }
        };
        if data.exists() {
            std::fs::remove_dir_all(&data).map_err(io("deleting"))?;
        }
        std::fs::create_dir_all(&data).map_err(io("creating"))
    }

    /// Send `signal` to node `i`'s process with `kill`.
    fn signal(&self, i: usize, signal: &'static str) -> Result<()> {
        let node = &self.nodes[i];
        let failed = |reason: String| LocalNetError::Signal {
            signal,
            node: node.entry.name.clone(),
            reason,
        };
        let pid = node
            .child
            .as_ref()
            .ok_or_else(|| failed("not running".to_string()))?
            .id();
        let status = Command::new("kill")
            .arg(signal)
            .arg(pid.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| failed(e.to_string()))?;
        if status.success() {
            Ok(())
        } else {
            Err(failed(format!("kill {signal} {pid}: {status}")))
        }
    }

    /// Check that no running node has exited; name the first that did.
    pub fn check_alive(&mut self) -> Result<()> {
        for node in &mut self.nodes {
            if let Some(child) = &mut node.child {
                let exited = child.try_wait().map_err(|source| LocalNetError::Wait {
                    node: node.entry.name.clone(),
                    source,
                })?;
                if let Some(status) = exited {
                    return Err(LocalNetError::Exited {
                        node: node.entry.name.clone(),
                        status,
                        home: node.entry.home.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Wait until every running node answers its status and sees all its peers (stopped
    /// nodes are not waited for); fails at once if a node exits.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        let probes = (0..self.nodes.len())
            .map(|i| Client::with_timeout(self.api(i), READY_PROBE_TIMEOUT))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let n = self.nodes.len();
        loop {
            self.check_alive()?;
            let mut ready = 0;
            for (i, probe) in probes.iter().enumerate() {
                if !self.is_running(i) {
                    ready += 1;
                    continue;
                }
                if let Ok(s) = probe.status().await {
                    if s.peers.len() + 1 >= n {
                        ready += 1;
                    }
                }
            }
            if ready == n {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(LocalNetError::NotReady { timeout });
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// Stop every node: SIGTERM to all, then wait up to [`STOP_GRACE`], then SIGKILL.
    pub fn stop(&mut self) {
        for child in self.nodes.iter().filter_map(|n| n.child.as_ref()) {
            terminate(child);
        }
        let deadline = Instant::now() + STOP_GRACE;
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                reap(&mut child, deadline);
            }
        }
    }

    /// End every node at once (SIGKILL, frozen ones too), as a test's clean-up does.
    pub fn kill_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill9(i);
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
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Wait for a child until `deadline`, then SIGKILL it and wait again.
fn reap(child: &mut Child, deadline: Instant) {
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                child.kill().ok();
                child.wait().ok();
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn free_ports_are_distinct() {
        let ports = free_ports(8).expect("ports");
        assert_eq!(ports.iter().collect::<BTreeSet<_>>().len(), 8, "{ports:?}");
    }

    #[test]
    fn init_free_gives_every_validator_its_own_ports() {
        let dir = tempfile::tempdir().expect("tmp");
        let options = TestnetOptions {
            validators: 4,
            ports: Some(vec![(1, 2)]),
            ..Default::default()
        };
        let entries = init_free(dir.path(), options).expect("init");
        assert_eq!(entries.len(), 4);
        let apis: BTreeSet<_> = entries.iter().map(|e| e.api.clone()).collect();
        let p2ps: BTreeSet<_> = entries.iter().map(|e| e.p2p.clone()).collect();
        assert_eq!((apis.len(), p2ps.len()), (4, 4), "{entries:?}");
        assert!(
            entries.iter().all(|e| !e.api.ends_with(":1")),
            "{entries:?}"
        );
    }

    #[test]
    fn a_network_that_never_started_stops_cleanly() {
        let mut net = LocalNet::start("/nonexistent/settlenet", Vec::new(), "warn").expect("empty");
        assert!(net.is_empty());
        net.check_alive().expect("nothing exited");
        net.kill_all();
        net.stop();
    }
}

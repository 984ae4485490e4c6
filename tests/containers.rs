//! End to end on real containers: the image `deploy/docker/build-image.sh` builds from this
//! test's own `settlenet` binary, the genesis ceremony `deploy/compose/init.sh` runs in it, and
//! the four validators and the observer of `docker-compose.yml`, each in its own container with
//! its own hostname on a Docker network. From the host, through the published APIs: wallets and
//! payments (the typed client) and a settlement batch (the CLI, as a clearing clerk would);
//! then, while payments keep flowing:
//!
//! 1. a validator's container is stopped and started: it resumes from its volume and catches up;
//! 2. a validator is cut off the network (`docker network disconnect`) until the others'
//!    stable checkpoint is two intervals past it, then reconnected: it catches up by state
//!    transfer;
//! 3. the primary's container is stopped: the others change view and commit in the new view;
//! 4. a rolling upgrade: each validator in turn recreated from a new image on its own volume.
//!
//! Every payment a node acknowledged (202) is committed; the observer follows throughout, a
//! payment submitted through it commits, its event stream (read from block 1 all along)
//! delivers every committed transaction exactly once, and at the end it and every validator
//! hold the same state root. `docker-compose down -v` removes containers, network and volumes; the
//! upgrade image is removed and the test image is rebuilt in place under one tag (the layer
//! cache reuses it while the binary is unchanged), so repeated runs do not pile up images.
//!
//! Before sending a payment-flow node to maintenance the test stops sending to it (as a load
//! balancer drains a node): what is tested is that the network loses nothing it acknowledged,
//! not that a client's request survives its node being switched off mid-flight.
//!
//! Runs wherever `docker info` succeeds; elsewhere it prints `SKIP:` with the reason and passes.

mod common;

use common::{nonce, sign, BIN};
use settlenet_api::client::Client;
use settlenet_api::{Status, TxStatus};
use settlenet_crypto::{KeyFile, Keypair};
use settlenet_types::{AccountId, Amount, Currency, Operation, TxId};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The validators' services in docker-compose.yml, in genesis order (node i is `VALIDATORS[i]`).
const VALIDATORS: [&str; 4] = ["operator-a", "bank-a", "bank-b", "clearing-house"];

/// The variable that sets each validator's published API port in docker-compose.yml.
const PORT_VARS: [&str; 4] = [
    "SETTLENET_PORT_OPERATOR_A",
    "SETTLENET_PORT_BANK_A",
    "SETTLENET_PORT_BANK_B",
    "SETTLENET_PORT_CLEARING_HOUSE",
];

/// The observer's service, and the variable that sets its published API port.
const OBSERVER: &str = "observer";
const OBSERVER_PORT_VAR: &str = "SETTLENET_PORT_OBSERVER";

/// The test's image tag: rebuilt in place on every run (never one tag per run).
const IMAGE: &str = "settlenet-e2e:current";

/// The image build-image.sh makes once and reuses.
const BASE_IMAGE: &str = "settlenet-base:bookworm";

/// Consensus checkpoint interval (`DEFAULT_CHECKPOINT_INTERVAL`): a partition lasts until the
/// others' stable checkpoint is two of these past the cut-off node.
const CHECKPOINT_INTERVAL: u64 = 16;

/// How long a status probe waits: a stopped or cut-off node does not answer within it.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Pause between two payments of the flow (one request at a time).
const FLOW_PAUSE: Duration = Duration::from_millis(10);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim().to_string()
}

/// Run a command; it must succeed. Returns its stdout. The panic shows the command and both
/// outputs.
fn run(cmd: &mut Command) -> String {
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    assert!(
        out.status.success(),
        "{shown} failed ({}):\n{}\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Run a command and return its output, whatever its status (for probes and clean-up).
fn try_run(cmd: &mut Command) -> Option<Output> {
    cmd.stdin(Stdio::null()).output().ok()
}

/// The Compose program: `docker-compose` (1.x, Debian's) or the `docker compose` plugin.
fn compose_program() -> Option<Vec<String>> {
    let ok = |args: &[&str]| {
        try_run(Command::new(args[0]).args(&args[1..])).is_some_and(|o| o.status.success())
    };
    if ok(&["docker-compose", "version"]) {
        Some(vec!["docker-compose".into()])
    } else if ok(&["docker", "compose", "version"]) {
        Some(vec!["docker".into(), "compose".into()])
    } else {
        None
    }
}

/// Why this machine cannot run the test, if it cannot.
fn skip_reason() -> Option<String> {
    match try_run(Command::new("docker").arg("info")) {
        None => return Some("docker is not installed".into()),
        Some(o) if !o.status.success() => {
            let err = text(&o.stderr);
            let first = err.lines().next().unwrap_or("");
            return Some(format!("`docker info` fails: {first}"));
        }
        Some(_) => {}
    }
    if compose_program().is_none() {
        return Some("neither docker-compose nor `docker compose` is installed".into());
    }
    let base_exists = try_run(Command::new("docker").args(["image", "inspect", BASE_IMAGE]))
        .is_some_and(|o| o.status.success());
    let root = try_run(Command::new("id").arg("-u")).is_some_and(|o| text(&o.stdout) == "0");
    if !base_exists && !root {
        return Some(format!(
            "{BASE_IMAGE} does not exist and making it needs root (debootstrap): run \
             deploy/docker/build-image.sh once as root"
        ));
    }
    None
}

/// One compose project: the containers, network and volumes of docker-compose.yml under a
/// name of its own, with node homes in a temporary directory. Dropping it takes all of it
/// down (`down -v`), removes the homes and the images it made.
struct Project {
    compose: Vec<String>,
    name: String,
    /// Variables docker-compose.yml reads (image, homes, ports).
    env: Vec<(String, String)>,
    /// The homes directory (init.sh's `--dir`).
    homes: PathBuf,
    /// Holds `homes`.
    _tmp: tempfile::TempDir,
    /// Images made for this run only, removed at the end.
    extra_images: Vec<String>,
    /// Already taken down.
    down: bool,
}

impl Project {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.compose[0]);
        c.args(&self.compose[1..])
            .args(["-p", &self.name, "-f"])
            .arg(repo().join("docker-compose.yml"))
            .args(args)
            .current_dir(repo())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        c
    }

    fn compose(&self, args: &[&str]) -> String {
        run(&mut self.cmd(args))
    }

    fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
    }

    /// The container id of a service.
    fn container(&self, service: &str) -> String {
        let id = self.compose(&["ps", "-q", service]);
        assert!(!id.is_empty(), "no container for {service}");
        id
    }

    /// The project's network.
    fn network(&self) -> String {
        format!("{}_default", self.name)
    }

    fn take_down(&mut self) {
        if self.down {
            return;
        }
        self.down = true;
        if let Some(o) = try_run(&mut self.cmd(&["down", "-v", "--remove-orphans", "-t", "5"])) {
            if !o.status.success() {
                eprintln!("docker-compose down -v failed: {}", text(&o.stderr));
            }
        }
        for image in &self.extra_images {
            let _ = try_run(Command::new("docker").args(["rmi", image]));
        }
        // The homes belong to the image's user (uid 10001): reset.sh removes them as root.
        let _ = try_run(
            Command::new(repo().join("deploy/compose/reset.sh"))
                .arg("--dir")
                .arg(&self.homes)
                .args(["--image", IMAGE]),
        );
    }

    /// On failure: every node's whole log into a file that outlives the test, and its path.
    fn save_logs(&self) {
        let path = std::env::temp_dir().join(format!("{}.log", self.name));
        match try_run(&mut self.cmd(&["logs", "--no-color", "--timestamps"])) {
            Some(o) => match std::fs::write(&path, &o.stdout) {
                Ok(()) => eprintln!("the nodes' logs: {}", path.display()),
                Err(e) => eprintln!("cannot write {}: {e}", path.display()),
            },
            None => eprintln!("docker-compose logs failed"),
        }
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.save_logs();
        }
        self.take_down();
    }
}

/// The validators' APIs as published on the host.
struct Nodes {
    clients: Vec<Client>,
    /// The nodes' names as they report them (`status.node`), to find the primary.
    names: Vec<String>,
}

impl Nodes {
    async fn status(&self, i: usize) -> Option<Status> {
        self.clients[i].status().await.ok()
    }

    /// Wait until every node answers and sees the other three.
    async fn wait_ready(&mut self, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let mut all = Vec::new();
            for i in 0..self.clients.len() {
                all.push(self.status(i).await);
            }
            if all
                .iter()
                .all(|s| s.as_ref().is_some_and(|s| s.peers.len() >= 3))
            {
                self.names = all.into_iter().flatten().map(|s| s.node).collect();
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the containers' nodes were not all up and connected in {secs}s: {all:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Wait until node `i` answers.
    async fn wait_up(&self, i: usize, secs: u64) -> Status {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(s) = self.status(i).await {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not answer in {secs}s",
                VALIDATORS[i]
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The highest height any answering node has committed.
    async fn top(&self) -> u64 {
        let mut h = 0;
        for i in 0..self.clients.len() {
            if let Some(s) = self.status(i).await {
                h = h.max(s.height.0);
            }
        }
        h
    }

    /// Wait until node `i` has committed height `h`.
    async fn wait_height(&self, i: usize, h: u64, secs: u64) -> Status {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.status(i).await;
            if let Some(s) = &s {
                if s.height.0 >= h {
                    return s.clone();
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} did not reach height {h} in {secs}s: {s:?}",
                VALIDATORS[i]
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Node `i` catches up with the others: it reaches the highest height any node had when
    /// this was called, and holds the same block (hash and state root) there as node `other`.
    async fn wait_caught_up(&self, i: usize, other: usize, secs: u64) -> Duration {
        let started = Instant::now();
        let h = self.top().await;
        self.wait_height(i, h, secs).await;
        self.wait_height(other, h, secs).await;
        self.assert_same_block(&[i, other], h).await;
        started.elapsed()
    }

    async fn assert_same_block(&self, which: &[usize], h: u64) {
        let mut first: Option<settlenet_api::Block> = None;
        for &i in which {
            let b = self.clients[i]
                .block(Some(h))
                .await
                .unwrap_or_else(|e| panic!("block {h} on {}: {e}", VALIDATORS[i]));
            if let Some(f) = &first {
                assert_eq!(b.hash, f.hash, "{} differs at {h}", VALIDATORS[i]);
                assert_eq!(b.state_root, f.state_root, "{} root at {h}", VALIDATORS[i]);
            } else {
                first = Some(b);
            }
        }
    }

    /// The view a quorum (3 of 4) of the validators are in, and the index of its primary.
    /// One node's word is not enough: a validator that timed out alone (cut off from the
    /// others) reports a higher view that the network has not entered.
    async fn established_view(&self, secs: u64) -> (u64, usize) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let mut seen: Vec<(u64, String)> = Vec::new();
            for i in 0..self.clients.len() {
                if let Some(s) = self.status(i).await {
                    seen.push((s.view.0, s.primary));
                }
            }
            for candidate in &seen {
                if seen.iter().filter(|s| *s == candidate).count() >= 3 {
                    let primary = self
                        .names
                        .iter()
                        .position(|n| *n == candidate.1)
                        .unwrap_or_else(|| {
                            panic!("primary {} is none of {:?}", candidate.1, self.names)
                        });
                    return (candidate.0, primary);
                }
            }
            assert!(
                Instant::now() < deadline,
                "no view that 3 validators agree on in {secs}s: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The observer follows the chain: it reaches the validators' current top height.
async fn observer_follows(c: &Cluster) {
    let h = c.nodes.top().await;
    let started = Instant::now();
    loop {
        let s = c.observer.status().await.ok();
        if s.as_ref().is_some_and(|s| s.height.0 >= h) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the observer did not follow to height {h} in 30 s: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.steps.say(&format!(
        "the observer followed to height {h} ({:?} after the validators)",
        started.elapsed()
    ));
}

/// A restarted node resumed from its own data: of its blocks now, it fetched at most those
/// above the `held` height it stopped at (an empty data directory would fetch them all, or a
/// snapshot).
fn assert_resumed_from_its_volume(node: &str, s: &Status, held: u64) {
    assert_eq!(counter(s, "snapshots_installed"), 0, "{node}: {s:?}");
    assert!(
        counter(s, "blocks_synced") <= s.height.0.saturating_sub(held),
        "{node} fetched {} blocks to reach {} after stopping at {held}: not its own volume?",
        counter(s, "blocks_synced"),
        s.height.0
    );
}

/// `counters.<name>` of a status.
fn counter(s: &Status, name: &str) -> u64 {
    s.counters.get(name).copied().unwrap_or(0)
}

/// Payments sent one at a time, round robin over the nodes in `targets`, until stopped.
struct Flow {
    stop: Arc<AtomicBool>,
    targets: Arc<Mutex<Vec<usize>>>,
    task: tokio::task::JoinHandle<Sent>,
}

/// What the flow sent: acknowledged (202) and unanswered or refused payments, with amounts.
#[derive(Default)]
struct Sent {
    acked: Vec<(TxId, u64)>,
    unacked: Vec<(TxId, u64)>,
}

impl Flow {
    fn start(clients: Vec<Client>, payer: Arc<Payer>) -> Flow {
        let stop = Arc::new(AtomicBool::new(false));
        let targets = Arc::new(Mutex::new((0..clients.len()).collect::<Vec<_>>()));
        let (s, t) = (stop.clone(), targets.clone());
        let task = tokio::spawn(async move {
            let mut sent = Sent::default();
            let mut k = 0u64;
            while !s.load(Ordering::Relaxed) {
                let node = {
                    let t = t.lock().expect("targets");
                    t[(k as usize) % t.len()]
                };
                let amount = 1 + k % 7;
                let tx = payer.payment(amount);
                match clients[node].submit(&tx).await {
                    Ok(_) => sent.acked.push((tx.tx.id, amount)),
                    Err(_) => sent.unacked.push((tx.tx.id, amount)),
                }
                k += 1;
                tokio::time::sleep(FLOW_PAUSE).await;
            }
            sent
        });
        Flow {
            stop,
            targets,
            task,
        }
    }

    /// Stop sending to node `i`, and let a request already sent to it finish.
    async fn drain(&self, i: usize) {
        self.targets.lock().expect("targets").retain(|t| *t != i);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    /// Send to node `i` again.
    fn restore(&self, i: usize) {
        let mut t = self.targets.lock().expect("targets");
        if !t.contains(&i) {
            t.push(i);
            t.sort_unstable();
        }
    }

    async fn finish(self) -> Sent {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("payment flow")
    }
}

/// Two wallets at operator-a; payments move minor units from the first to the second.
struct Payer {
    key: Keypair,
    from: AccountId,
    to: AccountId,
    chain: String,
}

impl Payer {
    fn payment(&self, amount: u64) -> settlenet_types::SignedTransaction {
        sign(
            &self.chain,
            &self.key,
            nonce(),
            Operation::Transfer {
                from: self.from,
                to: self.to,
                amount: Amount(amount),
            },
        )
    }
}

/// A member's staff key, as `member init` wrote it into the member's directory.
fn staff_key(homes: &Path, member: &str, role: &str) -> PathBuf {
    homes
        .join("members")
        .join(member)
        .join(format!("{role}.key"))
}

/// The `settlenet` CLI on the host against node `url`; it must succeed; its JSON answer.
fn cli_json(url: &str, args: &[&str]) -> serde_json::Value {
    let out = run(Command::new(BIN).args(["--node", url, "--json"]).args(args));
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("settlenet {args:?}: not JSON ({e}): {out}"))
}

/// Progress lines with the time since the test began (shown with --nocapture, or on failure).
struct Steps(Instant);

impl Steps {
    fn say(&self, what: &str) {
        eprintln!("[{:>6.1}s] {what}", self.0.elapsed().as_secs_f64());
    }
}

/// Everything the phases share: the compose project, the validators, the observer.
struct Cluster {
    project: Project,
    nodes: Nodes,
    /// The observer's published API.
    observer: Client,
    /// The validators' published API base URLs (for the CLI).
    urls: Vec<String>,
    steps: Steps,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consortium_in_containers_survives_restarts_a_partition_a_lost_primary_and_a_rolling_upgrade(
) {
    if let Some(why) = skip_reason() {
        // Straight to stderr, not `eprintln!`: the test harness hides a passing test's
        // `eprintln!` output unless --nocapture is given, and a skip must be seen in CI's log.
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "SKIP: containers test: {why}");
        return;
    }
    let mut cluster = up(Steps(Instant::now())).await;
    let payer = fund_a_payer(&cluster).await;
    settle_a_batch(&cluster);

    // An integrator follows the observer's event stream for the whole test.
    let stream = StreamLog::follow(&cluster.observer);
    let flow = Flow::start(cluster.nodes.clients.clone(), payer.clone());
    let nodes = &cluster.nodes;
    nodes.wait_height(0, nodes.top().await + 20, 30).await;
    restart_a_backup(&cluster, &flow).await;
    partition_a_backup(&cluster, &flow).await;
    stop_the_primary(&cluster, &flow).await;
    rolling_upgrade(&mut cluster, &flow).await;
    let sent = flow.finish().await;

    nothing_acknowledged_is_lost(&cluster, &payer, &sent).await;
    through_the_observer(&cluster, &payer).await;
    stream
        .delivered_every_transaction_once(&cluster, &sent)
        .await;
    tear_down(cluster);
}

/// The observer's event stream, read from block 1 while the test runs: how many times each
/// event (height, index) was delivered, with its transaction and whether the ledger executed
/// it (a transaction id included again in a later block is a `duplicate` event there), and how
/// many transactions the block events counted, up to the last block event.
#[derive(Default)]
struct StreamLog {
    events: std::collections::BTreeMap<(u64, u32), (u32, TxId, bool)>,
    block_txs: u64,
    top: u64,
}

struct Following {
    log: Arc<Mutex<StreamLog>>,
    task: tokio::task::JoinHandle<()>,
}

impl StreamLog {
    fn follow(observer: &Client) -> Following {
        let mut stream = observer
            .events(settlenet_api::client::EventsRequest {
                from: Some(1),
                account: None,
                after: None,
            })
            .expect("the observer's event stream");
        let log = Arc::new(Mutex::new(StreamLog::default()));
        let l = log.clone();
        let task = tokio::spawn(async move {
            while let Ok(ev) = stream.next().await {
                let mut g = l.lock().expect("stream log");
                match ev {
                    settlenet_api::StreamEvent::Tx(t) => {
                        let executed = t.status != settlenet_api::TxEventStatus::Duplicate;
                        g.events
                            .entry((t.height.0, t.index))
                            .or_insert((0, t.id, executed))
                            .0 += 1;
                    }
                    settlenet_api::StreamEvent::Block(b) => {
                        g.block_txs += u64::from(b.txs);
                        g.top = b.height.0;
                    }
                }
            }
        });
        Following { log, task }
    }
}

impl Following {
    /// Up to the observer's height: every committed transaction delivered exactly once, every
    /// acknowledged payment among them.
    async fn delivered_every_transaction_once(self, c: &Cluster, sent: &Sent) {
        let h = c.observer.status().await.expect("observer status").height.0;
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.log.lock().expect("stream log").top < h {
            assert!(
                Instant::now() < deadline,
                "the observer's event stream did not reach height {h}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.task.abort();
        let g = self.log.lock().expect("stream log");
        let twice: Vec<_> = g.events.iter().filter(|(_, (n, _, _))| *n != 1).collect();
        assert!(
            twice.is_empty(),
            "events delivered more than once: {twice:?}"
        );
        let up_to_top = g.events.keys().filter(|(h, _)| *h <= g.top).count() as u64;
        assert_eq!(
            up_to_top, g.block_txs,
            "the stream's transactions differ from its blocks' counts"
        );
        // Each transaction executed once: one event that is not a duplicate's.
        let mut executed: std::collections::BTreeMap<TxId, u32> = Default::default();
        for (_, id, ran) in g.events.values() {
            if *ran {
                *executed.entry(*id).or_insert(0) += 1;
            }
        }
        let twice: Vec<_> = executed.iter().filter(|(_, n)| **n != 1).collect();
        assert!(twice.is_empty(), "executed twice per the stream: {twice:?}");
        let missing: Vec<_> = sent
            .acked
            .iter()
            .filter(|(id, _)| !executed.contains_key(id))
            .collect();
        assert!(
            missing.is_empty(),
            "acknowledged payments not in the stream: {missing:?}"
        );
        c.steps.say(&format!(
            "the observer's event stream delivered each of {} transaction events once ({} \
             executed transactions), up to height {}",
            g.block_txs,
            executed.len(),
            g.top
        ));
    }
}

/// Build the image from this test's binary, run the ceremony into a temporary directory, and
/// start the compose project on free ports; wait until every node is up and connected.
async fn up(steps: Steps) -> Cluster {
    let compose = compose_program().expect("compose");
    // The base and unchanged layers are reused: a warm build takes seconds.
    steps.say("building the image with deploy/docker/build-image.sh");
    run(Command::new(repo().join("deploy/docker/build-image.sh"))
        .args(["--binary", BIN, "--tag", IMAGE])
        .stdout(Stdio::piped()));

    let tmp = tempfile::tempdir().expect("tmp");
    let homes = tmp.path().join("homes");
    let name = format!(
        "settlenet-e2e-{}-{:04x}",
        std::process::id(),
        rand::random::<u16>()
    );
    // One free port per validator and one for the observer (the last).
    let ports = settlenet_localnet::free_ports(VALIDATORS.len() + 1).expect("free ports");
    let mut env = vec![
        ("SETTLENET_IMAGE".to_string(), IMAGE.to_string()),
        (
            "SETTLENET_HOMES".to_string(),
            homes.to_str().expect("utf8 path").to_string(),
        ),
    ];
    for (var, port) in PORT_VARS.iter().chain([&OBSERVER_PORT_VAR]).zip(&ports) {
        env.push((var.to_string(), port.to_string()));
    }
    let project = Project {
        compose,
        name,
        env,
        homes: homes.clone(),
        _tmp: tmp,
        extra_images: Vec::new(),
        down: false,
    };
    steps.say("deploy/compose/init.sh");
    run(Command::new(repo().join("deploy/compose/init.sh"))
        .arg("--dir")
        .arg(&homes)
        .args(["--image", IMAGE]));
    steps.say(&format!("docker-compose -p {} up -d", project.name));
    project.compose(&["up", "-d"]);

    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let mut clients: Vec<Client> = urls
        .iter()
        .map(|u| Client::with_timeout(u, PROBE_TIMEOUT).expect("client"))
        .collect();
    let observer = clients.pop().expect("the observer's client");
    let mut nodes = Nodes {
        clients,
        names: Vec::new(),
    };
    nodes.wait_ready(90).await;
    steps.say(&format!(
        "four validators up and connected: {:?}",
        nodes.names
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    let s = loop {
        let s = observer.status().await.ok();
        if let Some(s) = &s {
            if s.peers.len() == VALIDATORS.len() {
                break s.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "the observer did not connect to every validator: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(s.role, "observer", "{s:?}");
    let validator = nodes.wait_up(0, 10).await;
    assert_eq!(s.genesis_hash, validator.genesis_hash, "one genesis");
    assert_eq!(validator.role, "validator");
    steps.say(&format!("observer {} connected to {:?}", s.node, s.peers));
    let mut urls = urls;
    urls.pop();
    Cluster {
        project,
        nodes,
        observer,
        urls,
        steps,
    }
}

/// Two wallets at operator-a, the first funded, through the typed client and operator-a's
/// issuer key from the ceremony.
async fn fund_a_payer(c: &Cluster) -> Arc<Payer> {
    let clients = &c.nodes.clients;
    let genesis = clients[0].genesis().await.expect("genesis");
    let chain = genesis.chain_id.clone();
    let operator = genesis
        .members
        .iter()
        .find(|m| m.name == "operator-a")
        .expect("operator-a in the genesis")
        .id;
    let issuer = KeyFile::read(&staff_key(&c.project.homes, "operator-a", "issuer"), None)
        .expect("operator-a's issuer key")
        .1;
    let payer = Arc::new(Payer {
        key: Keypair::generate(),
        from: AccountId(rand::random()),
        to: AccountId(rand::random()),
        chain: chain.clone(),
    });
    let bob = Keypair::generate();
    let mut txs = Vec::new();
    for (wallet, owner) in [(payer.from, payer.key.public()), (payer.to, bob.public())] {
        txs.push(sign(
            &chain,
            &issuer,
            nonce(),
            Operation::CreateWallet {
                account: wallet,
                issuer: operator,
                owner,
                currency: Currency(*b"USD"),
            },
        ));
    }
    for (k, tx) in txs.iter().enumerate() {
        clients[k].submit(tx).await.expect("create wallet");
    }
    for tx in &txs {
        let v = clients[3]
            .wait_tx(tx.tx.id, Duration::from_secs(30))
            .await
            .expect("wallet");
        assert_eq!(v.status, TxStatus::Committed, "{v:?}");
    }
    let funds = sign(
        &chain,
        &issuer,
        nonce(),
        Operation::Issue {
            wallet: payer.from,
            amount: Amount(100_000_000),
        },
    );
    clients[1].submit(&funds).await.expect("issue");
    let v = clients[2]
        .wait_tx(funds.tx.id, Duration::from_secs(30))
        .await
        .expect("issue");
    assert_eq!(v.status, TxStatus::Committed, "{v:?}");
    payer
}

/// The clearing day's last step from the host, with the CLI, as the clearing house would: close
/// the window, settle a batch file.
fn settle_a_batch(c: &Cluster) {
    let clearing = staff_key(&c.project.homes, "clearing-house", "clearing");
    let clearing = clearing.to_str().expect("utf8 path");
    let url = &c.urls[3];
    let v = cli_json(url, &["window", "close", "--key", clearing]);
    assert_eq!(v["window"], 0, "{v}");
    let day = c.project.homes.join("day.csv");
    std::fs::write(
        &day,
        "id,debtor,creditor,amount,currency,reference\n\
         inv-1,bank-a,bank-b,100.00,USD,March invoice\n\
         inv-2,BNKBRWRWXXX,operator-a,40.00,USD,\n\
         inv-3,bank-a,CLRHRWRWXXX,5.25,USD,fees\n",
    )
    .expect("write the batch file");
    let day = day.to_str().expect("utf8 path");
    let v = cli_json(url, &["batch", "submit", day, "--key", clearing]);
    assert_eq!(v["status"], "settled", "{v}");
    assert_eq!(v["instructions"], 3, "{v}");
    c.steps
        .say(&format!("settlement batch {} settled", v["batch"]));
}

/// Phase 1: stop and start a backup's container: it resumes from its volume and catches up.
async fn restart_a_backup(c: &Cluster, flow: &Flow) {
    let nodes = &c.nodes;
    let (_, primary) = nodes.established_view(20).await;
    let b = (primary + 2) % VALIDATORS.len();
    flow.drain(b).await;
    c.steps
        .say(&format!("docker-compose stop {}", VALIDATORS[b]));
    let held = nodes.wait_up(b, 10).await.height.0;
    c.project.compose(&["stop", "-t", "10", VALIDATORS[b]]);
    let h = nodes.top().await;
    nodes.wait_height(primary, h + 30, 30).await;
    c.steps
        .say(&format!("docker-compose start {}", VALIDATORS[b]));
    let started = Instant::now();
    c.project.compose(&["start", VALIDATORS[b]]);
    nodes.wait_up(b, 60).await;
    flow.restore(b);
    nodes.wait_caught_up(b, primary, 60).await;
    let s = nodes.wait_up(b, 10).await;
    assert_resumed_from_its_volume(VALIDATORS[b], &s, held);
    c.steps.say(&format!(
        "{} resumed from its volume at {held} and caught up ({} blocks fetched) {:?} after start",
        VALIDATORS[b],
        counter(&s, "blocks_synced"),
        started.elapsed()
    ));
    observer_follows(c).await;
}

/// Phase 2: cut a backup off the network until the others' stable checkpoint is two intervals past
/// it, then reconnect it: it catches up by state transfer.
async fn partition_a_backup(c: &Cluster, flow: &Flow) {
    let nodes = &c.nodes;
    let (view, primary) = nodes.established_view(20).await;
    let b = (primary + 1) % VALIDATORS.len();
    let synced_before = counter(&nodes.wait_up(b, 10).await, "blocks_synced");
    flow.drain(b).await;
    let container = c.project.container(VALIDATORS[b]);
    let network = c.project.network();
    c.steps
        .say(&format!("docker network disconnect {}", VALIDATORS[b]));
    run(Command::new("docker").args(["network", "disconnect", &network, &container]));
    let cut_at = nodes.top().await;
    let cut = Instant::now();
    let deadline = cut + Duration::from_secs(60);
    loop {
        let s = nodes.wait_up(primary, 10).await;
        if s.stable_checkpoint.0 >= cut_at + 2 * CHECKPOINT_INTERVAL
            && cut.elapsed() >= Duration::from_secs(3)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no stable checkpoint two intervals past {cut_at} in 60 s: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    c.steps.say(&format!(
        "docker network connect {} (cut off for {:?} from height {cut_at})",
        VALIDATORS[b],
        cut.elapsed()
    ));
    // Back under its service name, which the others dial (/dns4/<name>/tcp/26600).
    run(Command::new("docker").args([
        "network",
        "connect",
        "--alias",
        VALIDATORS[b],
        &network,
        &container,
    ]));
    nodes.wait_up(b, 30).await;
    let took = nodes.wait_caught_up(b, primary, 60).await;
    let after = nodes.wait_up(b, 10).await;
    assert!(
        counter(&after, "blocks_synced") > synced_before,
        "{} caught up without state transfer: {after:?}",
        VALIDATORS[b]
    );
    flow.restore(b);
    // Its view timer ran while it was cut off: it may sit in a higher view than the network's
    // until the next view change (PBFT); what it holds is checked, not whether it votes.
    c.steps.say(&format!(
        "{} caught up by state transfer in {took:?} ({} blocks synced); it is in view {}, the \
         network in view {view}",
        VALIDATORS[b],
        counter(&after, "blocks_synced") - synced_before,
        after.view.0
    ));
}

/// Phase 3: stop the primary's container: the others change view and commit in the new view; it
/// comes back and catches up.
async fn stop_the_primary(c: &Cluster, flow: &Flow) {
    let nodes = &c.nodes;
    let (view, p) = nodes.established_view(20).await;
    let witness = (p + 1) % VALIDATORS.len();
    flow.drain(p).await;
    c.steps.say(&format!(
        "docker-compose stop {} (the primary, view {view})",
        VALIDATORS[p]
    ));
    c.project.compose(&["stop", "-t", "10", VALIDATORS[p]]);
    let stopped = Instant::now();
    let h = nodes.top().await;
    let deadline = stopped + Duration::from_secs(30);
    let s = loop {
        let s = nodes.wait_up(witness, 10).await;
        if s.view.0 > view && s.primary != nodes.names[p] && s.height.0 > h {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "no block in a new view 30 s after the primary stopped: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let view_change = stopped.elapsed();
    c.steps.say(&format!(
        "view {} (primary {}) committed height {} {view_change:?} after the stop",
        s.view.0, s.primary, s.height.0
    ));
    // The view timer starts at 2 s and doubles while nothing commits; a new view within a few
    // timer periods is the protocol working, not a lucky run.
    assert!(
        view_change < Duration::from_secs(15),
        "view change took {view_change:?}"
    );
    let started = Instant::now();
    c.project.compose(&["start", VALIDATORS[p]]);
    nodes.wait_up(p, 60).await;
    flow.restore(p);
    nodes.wait_caught_up(p, witness, 60).await;
    c.steps.say(&format!(
        "{} back and caught up {:?} after start",
        VALIDATORS[p],
        started.elapsed()
    ));
    observer_follows(c).await;
}

/// Phase 4: a rolling upgrade, one validator at a time recreated from a new image on its own volume,
/// backups first and the primary last (one view change, not four).
async fn rolling_upgrade(c: &mut Cluster, flow: &Flow) {
    // A new image: the test image plus a label, so that its id differs and Compose recreates
    // the containers (a mere new tag of the same image would leave them running).
    let upgrade = format!("settlenet-e2e:upgrade-{}", c.project.name);
    let mut child = Command::new("docker")
        .args(["build", "-q", "-t", &upgrade, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker build");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        write!(
            stdin,
            "FROM {IMAGE}\nLABEL org.settlenet.e2e-upgrade=\"{}\"\n",
            c.project.name
        )
        .expect("write Dockerfile");
    }
    let out = child.wait_with_output().expect("docker build");
    assert!(out.status.success(), "{}", text(&out.stderr));
    c.project.extra_images.push(upgrade.clone());
    let upgrade_id =
        run(Command::new("docker").args(["image", "inspect", "-f", "{{.Id}}", &upgrade]));
    c.project.set_env("SETTLENET_IMAGE", &upgrade);

    let nodes = &c.nodes;
    let (_, p) = nodes.established_view(20).await;
    let order: Vec<usize> = (1..=VALIDATORS.len())
        .map(|k| (p + k) % VALIDATORS.len())
        .collect();
    for &i in &order {
        flow.drain(i).await;
        c.steps.say(&format!("upgrading {}", VALIDATORS[i]));
        let held = nodes.wait_up(i, 10).await.height.0;
        let started = Instant::now();
        c.project
            .compose(&["up", "-d", "--no-deps", "-t", "10", VALIDATORS[i]]);
        let container = c.project.container(VALIDATORS[i]);
        let image = run(Command::new("docker").args(["inspect", "-f", "{{.Image}}", &container]));
        assert_eq!(image, upgrade_id, "{} runs the new image", VALIDATORS[i]);
        nodes.wait_up(i, 60).await;
        flow.restore(i);
        let other = (i + 1) % VALIDATORS.len();
        nodes.wait_caught_up(i, other, 60).await;
        let s = nodes.wait_up(i, 10).await;
        assert_resumed_from_its_volume(VALIDATORS[i], &s, held);
        c.steps.say(&format!(
            "{} runs the new image on its volume (from {held}), caught up {:?} after the command",
            VALIDATORS[i],
            started.elapsed()
        ));
    }
}

/// Every payment a node acknowledged is committed; the validators converge on one height and
/// state root, which the observer reaches too; the payee's balance is what was paid, on every
/// node.
async fn nothing_acknowledged_is_lost(c: &Cluster, payer: &Payer, sent: &Sent) {
    let nodes = &c.nodes;
    c.steps.say(&format!(
        "payment flow stopped: {} acknowledged, {} unanswered",
        sent.acked.len(),
        sent.unacked.len()
    ));
    assert!(sent.acked.len() > 100, "too few payments to mean anything");
    let mut paid = 0u64;
    for (tx, amount) in &sent.acked {
        let v = nodes.clients[0]
            .wait_tx(*tx, Duration::from_secs(30))
            .await
            .expect("acknowledged payment");
        assert_eq!(
            v.status,
            TxStatus::Committed,
            "acknowledged payment lost: {v:?}"
        );
        paid += amount;
    }
    for (tx, amount) in &sent.unacked {
        if let Some(v) = nodes.clients[0].tx(*tx).await.expect("tx") {
            if v.status == TxStatus::Committed {
                paid += amount;
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let (h, root) = loop {
        let mut all = Vec::new();
        for i in 0..VALIDATORS.len() {
            all.push(nodes.status(i).await.map(|s| (s.height, s.state_root)));
        }
        if let Some(Some(first)) = all.first() {
            if all.iter().all(|s| s.as_ref() == Some(first)) {
                break *first;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the validators do not converge: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The observer followed all along: it reaches the same height and root by itself.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = c.observer.status().await.ok();
        if s.as_ref()
            .is_some_and(|s| s.height == h && s.state_root == root)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the observer did not reach height {} with the validators' root: {s:?}",
            h.0
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (i, client) in nodes.clients.iter().chain([&c.observer]).enumerate() {
        let payee = client
            .account(payer.to)
            .await
            .expect("account")
            .expect("the payee's wallet");
        assert_eq!(
            payee.balance_minor,
            paid.to_string(),
            "{} holds another balance",
            VALIDATORS.get(i).unwrap_or(&OBSERVER)
        );
    }
    c.steps.say(&format!(
        "all four validators and the observer at height {} with state root {root}; {paid} minor \
         units paid",
        h.0
    ));
}

/// A payment submitted through the observer is forwarded to a validator and commits.
async fn through_the_observer(c: &Cluster, payer: &Payer) {
    let tx = payer.payment(1);
    c.observer
        .submit(&tx)
        .await
        .expect("submitted through the observer");
    let v = c
        .observer
        .wait_tx(tx.tx.id, Duration::from_secs(30))
        .await
        .expect("forwarded payment");
    assert_eq!(v.status, TxStatus::Committed, "{v:?}");
    let v = c.nodes.clients[2]
        .wait_tx(tx.tx.id, Duration::from_secs(30))
        .await
        .expect("forwarded payment on a validator");
    assert_eq!(v.status, TxStatus::Committed, "{v:?}");
    c.steps.say("a payment through the observer committed");
}

/// `docker-compose down -v` leaves no container or volume; the upgrade image is gone and the
/// test image is the only one of its name.
fn tear_down(mut c: Cluster) {
    let label = format!("label=com.docker.compose.project={}", c.project.name);
    c.project.take_down();
    let left = run(Command::new("docker").args(["volume", "ls", "-q", "--filter", &label]));
    assert!(left.is_empty(), "volumes left after down -v: {left}");
    let left = run(Command::new("docker").args(["ps", "-aq", "--filter", &label]));
    assert!(left.is_empty(), "containers left after down -v: {left}");
    let images = run(Command::new("docker").args([
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}}",
        "--filter",
        "reference=settlenet-e2e",
    ]));
    assert_eq!(images, IMAGE, "test images left behind");
    c.steps
        .say("down -v: no container, volume or extra image left");
}

//! End-to-end tests of the network task over real TCP sockets on 127.0.0.1.
//!
//! Every wait is bounded; a test that does not see what it expects in time fails.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use settlenet_net::{
    keypair_from_seed, peer_id_from_seed, spawn, InboundQuota, Multiaddr, NetConfig, NetError,
    NetEvent, NetHandle, PeerId,
};
use tokio::sync::mpsc::Receiver;
use tokio::time::{timeout, Instant};

const WAIT: Duration = Duration::from_secs(10);

fn seed(n: u8) -> [u8; 32] {
    [n; 32]
}

fn peer(n: u8) -> PeerId {
    peer_id_from_seed(seed(n)).expect("valid seed")
}

fn start(
    n: u8,
    port: u16,
    bootstrap: Vec<(PeerId, Multiaddr)>,
    allowed: &[u8],
) -> (NetHandle, Receiver<NetEvent>) {
    start_with(n, port, bootstrap, allowed, InboundQuota::default())
}

fn start_with(
    n: u8,
    port: u16,
    bootstrap: Vec<(PeerId, Multiaddr)>,
    allowed: &[u8],
    inbound: InboundQuota,
) -> (NetHandle, Receiver<NetEvent>) {
    let config = NetConfig {
        keypair: keypair_from_seed(seed(n)).expect("valid seed"),
        listen: vec![format!("/ip4/127.0.0.1/tcp/{port}").parse().expect("addr")],
        bootstrap,
        allowed: allowed.iter().map(|&n| peer(n)).collect(),
        advertise: vec![],
        request_timeout: Duration::from_secs(5),
        inbound,
    };
    spawn(config).expect("spawn")
}

async fn listen_addr(handle: &NetHandle) -> Multiaddr {
    let addrs = timeout(WAIT, handle.listen_addrs())
        .await
        .expect("listen addrs in time");
    addrs.into_iter().next().expect("one listen address")
}

fn port_of(addr: &Multiaddr) -> u16 {
    addr.iter()
        .find_map(|p| match p {
            libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .expect("tcp port")
}

/// Polls `connected_peers` until it contains all of `want`.
async fn wait_connected(handle: &NetHandle, want: &[PeerId]) {
    let deadline = Instant::now() + WAIT;
    loop {
        let connected: HashSet<PeerId> = handle.connected_peers().await.into_iter().collect();
        if want.iter().all(|p| connected.contains(p)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not connected to {want:?} in time; have {connected:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Node 1 dialling node 2 (which takes `quota` from each peer), both connected:
/// (a, a's events, b, b's events).
async fn connected_pair(
    quota: InboundQuota,
) -> (NetHandle, Receiver<NetEvent>, NetHandle, Receiver<NetEvent>) {
    let all = [1, 2];
    let (b, b_events) = start_with(2, 0, vec![], &all, quota);
    let b_addr = listen_addr(&b).await;
    let (a, a_events) = start(1, 0, vec![(peer(2), b_addr)], &all);
    wait_connected(&a, &[peer(2)]).await;
    wait_connected(&b, &[peer(1)]).await;
    (a, a_events, b, b_events)
}

/// Next `Message` event (skipping others) within `WAIT`.
async fn next_message(events: &mut Receiver<NetEvent>) -> (PeerId, Vec<u8>) {
    let deadline = Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("message in time")
            .expect("event channel open");
        if let NetEvent::Message { from, bytes, .. } = event {
            return (from, bytes);
        }
    }
}

/// Answers every sync request with the reversed payload and ignores other events; ends when
/// the node's event channel closes.
fn serve_reversed(mut events: Receiver<NetEvent>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let NetEvent::Request { bytes, reply, .. } = event {
                reply.send(bytes.into_iter().rev().collect());
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_connect_broadcast_and_request() {
    let all = [1, 2, 3];
    let (a, a_events) = start(1, 0, vec![], &all);
    let a_addr = listen_addr(&a).await;
    let (b, mut b_events) = start(2, 0, vec![(peer(1), a_addr.clone())], &all);
    let b_addr = listen_addr(&b).await;
    let (c, mut c_events) = start(3, 0, vec![(peer(1), a_addr), (peer(2), b_addr)], &all);
    assert_ne!(port_of(&listen_addr(&c).await), 0, "port read back");

    wait_connected(&a, &[peer(2), peer(3)]).await;
    wait_connected(&b, &[peer(1), peer(3)]).await;
    wait_connected(&c, &[peer(1), peer(2)]).await;

    let a_server = serve_reversed(a_events);

    a.broadcast(b"hello from A".to_vec()).await;
    assert_eq!(
        next_message(&mut b_events).await,
        (peer(1), b"hello from A".to_vec())
    );
    assert_eq!(
        next_message(&mut c_events).await,
        (peer(1), b"hello from A".to_vec())
    );

    c.send(peer(2), b"direct C->B".to_vec()).await;
    assert_eq!(
        next_message(&mut b_events).await,
        (peer(3), b"direct C->B".to_vec())
    );

    let answer = b.request(peer(1), b"abc".to_vec()).await.expect("answer");
    assert_eq!(answer, b"cba".to_vec());
    let answer = c.request(peer(1), vec![]).await.expect("empty answer");
    assert!(answer.is_empty());

    // A request nobody answers (C's events are not served) fails, bounded, instead of hanging.
    // Both ends run the same request timeout, so which fires first is a race: B's own timeout
    // (`Timeout`) or C's inbound timeout closing the stream (`RequestFailed`, end of file).
    let unanswered = timeout(WAIT, b.request(peer(3), b"x".to_vec()))
        .await
        .expect("bounded");
    assert!(
        matches!(
            unanswered,
            Err(NetError::Timeout) | Err(NetError::RequestFailed { .. })
        ),
        "{unanswered:?}"
    );
    drop(c_events);

    // Peers outside the allow-list are refused locally.
    let stranger = peer(9);
    assert!(matches!(
        b.request(stranger, b"x".to_vec()).await,
        Err(NetError::NotAllowed(p)) if p == stranger
    ));

    assert!(a.stats().messages_sent >= 2, "{:?}", a.stats());
    assert!(b.stats().messages_received >= 2, "{:?}", b.stats());
    assert_eq!(b.stats().requests_sent, 1, "{:?}", b.stats());

    for handle in [&a, &b, &c] {
        handle.shutdown().await;
    }
    a_server.await.expect("server task ends when A shuts down");
    // After shutdown calls fail cleanly.
    assert!(matches!(
        a.request(peer(2), vec![]).await,
        Err(NetError::Shutdown)
    ));
    assert!(a.connected_peers().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_peer_is_refused_and_its_messages_never_arrive() {
    // A allows only {A, B}; D (seed 4) allows A and dials it.
    let (a, mut a_events) = start(1, 0, vec![], &[1, 2]);
    let a_addr = listen_addr(&a).await;
    let (b, _b_events) = start(2, 0, vec![(peer(1), a_addr.clone())], &[1, 2]);
    let (d, _d_events) = start(4, 0, vec![(peer(1), a_addr)], &[1, 4]);

    // Collect A's events for a while, with B (allowed) and D (stranger) both sending to A.
    let mut refused_addr = None;
    let mut from_b = 0;
    let mut from_d = 0;
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            _ = tick.tick() => {
                b.send(peer(1), b"from B".to_vec()).await;
                d.send(peer(1), b"from D".to_vec()).await;
                d.broadcast(b"from D".to_vec()).await;
            }
            event = a_events.recv() => match event.expect("open") {
                NetEvent::Refused { peer: p, addr } => {
                    assert_eq!(p, peer(4), "only D is refused");
                    refused_addr = Some(addr);
                }
                NetEvent::Message { from, .. } if from == peer(2) => from_b += 1,
                NetEvent::Message { from, .. } if from == peer(4) => from_d += 1,
                NetEvent::PeerConnected(p) => assert_ne!(p, peer(4), "D must not connect"),
                _ => {}
            },
        }
    }
    let refused_addr = refused_addr.expect("A reported NetEvent::Refused for D");
    assert!(
        refused_addr.is_some(),
        "inbound refusal carries D's address"
    );
    assert_eq!(from_d, 0, "a message from D reached A");
    assert!(
        from_b > 0,
        "the allowed peer's messages do arrive (the test can see messages)"
    );
    assert!(a.stats().peers_refused >= 1);
    assert!(!a.connected_peers().await.contains(&peer(4)));

    for handle in [&a, &b, &d] {
        handle.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_observer_admitted_at_run_time_connects_gets_no_broadcast_and_is_cut_off_when_removed() {
    // A allows only itself and B; D (an observer, seed 4) keeps dialling A.
    let (a, _a_events) = start(1, 0, vec![], &[1, 2]);
    let a_addr = listen_addr(&a).await;
    let (d, mut d_events) = start(4, 0, vec![(peer(1), a_addr)], &[1, 4]);
    let deadline = Instant::now() + Duration::from_secs(3);
    while a.stats().peers_refused == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        a.stats().peers_refused >= 1,
        "D was refused before it was admitted"
    );
    assert!(!a.connected_peers().await.contains(&peer(4)));

    // Admitted: D's redial gets through; it gets no broadcast, but A can send to it and D
    // can ask A.
    a.set_observers(vec![peer(4)]).await;
    wait_connected(&a, &[peer(4)]).await;
    a.broadcast(b"to the committee".to_vec()).await;
    a.send(peer(4), b"to the observer".to_vec()).await;
    let (from, bytes) = next_message(&mut d_events).await;
    assert_eq!((from, bytes.as_slice()), (peer(1), &b"to the observer"[..]));

    // Removed: the connection is closed at once and stays closed.
    a.set_observers(vec![]).await;
    let deadline = Instant::now() + WAIT;
    while a.connected_peers().await.contains(&peer(4)) {
        assert!(Instant::now() < deadline, "D still connected after removal");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !a.connected_peers().await.contains(&peer(4)),
        "D reconnected after removal"
    );
    for handle in [&a, &d] {
        handle.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bootstrap_peer_is_redialled_after_restart() {
    let all = [1, 2];
    let (b, b_events) = start(2, 0, vec![], &all);
    let b_addr = listen_addr(&b).await;
    let b_port = port_of(&b_addr);
    let (a, mut a_events) = start(1, 0, vec![(peer(2), b_addr)], &all);
    wait_connected(&a, &[peer(2)]).await;

    b.shutdown().await;
    drop(b_events);
    // A notices the loss.
    let deadline = Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, a_events.recv())
            .await
            .expect("disconnect in time")
            .expect("open");
        if matches!(event, NetEvent::PeerDisconnected(p) if p == peer(2)) {
            break;
        }
    }
    assert!(!a.connected_peers().await.contains(&peer(2)));
    // Let a few redials fail against the closed port (backoff grows), then restart B on the
    // same port with no bootstrap list: only A's redial can bring the connection back.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (b2, mut b2_events) = start(2, b_port, vec![], &all);
    let restarted = Instant::now();
    wait_connected(&a, &[peer(2)]).await;
    wait_connected(&b2, &[peer(1)]).await;
    assert!(
        restarted.elapsed() < Duration::from_secs(5),
        "reconnected within the backoff bound"
    );

    // And the new connection carries messages.
    a.send(peer(2), b"after restart".to_vec()).await;
    assert_eq!(
        next_message(&mut b2_events).await,
        (peer(1), b"after restart".to_vec())
    );

    a.shutdown().await;
    b2.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_messages_arrive() {
    const COUNT: u32 = 10_000;
    let (a, _a_events, b, mut b_events) = connected_pair(InboundQuota::default()).await;

    let started = Instant::now();
    let sender = {
        let a = a.clone();
        tokio::spawn(async move {
            for i in 0..COUNT {
                let mut bytes = i.to_be_bytes().to_vec();
                bytes.resize(100, 0xEE);
                a.send(peer(2), bytes).await;
            }
        })
    };

    let mut seen: HashMap<u32, u32> = HashMap::new();
    let deadline = started + Duration::from_secs(30);
    while seen.len() < COUNT as usize {
        let event = tokio::time::timeout_at(deadline, b_events.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {COUNT} messages in 30 s", seen.len()))
            .expect("open");
        if let NetEvent::Message { from, bytes, .. } = event {
            assert_eq!(from, peer(1));
            assert_eq!(bytes.len(), 100);
            let index = u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes"));
            *seen.entry(index).or_insert(0) += 1;
        }
    }
    sender.await.expect("sender");
    let elapsed = started.elapsed();
    assert!(seen.values().all(|&n| n == 1), "duplicates");
    assert!((0..COUNT).all(|i| seen.contains_key(&i)));
    eprintln!(
        "{COUNT} messages in {elapsed:?} ({:.0} msg/s)",
        f64::from(COUNT) / elapsed.as_secs_f64()
    );
    assert_eq!(a.stats().messages_dropped, 0, "{:?}", a.stats());
    assert_eq!(b.stats().events_dropped, 0, "{:?}", b.stats());
    assert_eq!(b.stats().messages_received, u64::from(COUNT));

    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_over_its_quota_is_slowed_down_and_loses_nothing() {
    const COUNT: u32 = 600;
    const RATE: u32 = 200;
    let quota = InboundQuota {
        messages_per_sec: RATE,
        ..InboundQuota::default()
    };
    let (a, _a_events, b, mut b_events) = connected_pair(quota).await;

    let started = Instant::now();
    for i in 0..COUNT {
        a.send(peer(2), i.to_be_bytes().to_vec()).await;
    }
    let mut seen = HashSet::new();
    while seen.len() < COUNT as usize {
        let (from, bytes) = next_message(&mut b_events).await;
        assert_eq!(from, peer(1));
        seen.insert(u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes")));
    }
    let elapsed = started.elapsed();
    // A burst of one second's worth, then RATE a second: the rest cannot arrive sooner.
    let floor = Duration::from_secs_f64(f64::from(COUNT - RATE) / f64::from(RATE) * 0.9);
    assert!(
        elapsed >= floor,
        "{COUNT} messages in {elapsed:?}, quota {RATE}/s"
    );
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(sa.messages_dropped, 0, "nothing lost: {sa:?}");
    assert!(sb.messages_held > 0, "the sender waited: {sb:?}");
    // A sender that keeps to its window never overflows the held queue.
    assert_eq!(sb.messages_refused, 0, "{sb:?}");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_banned_peer_is_cut_off_then_let_back_in() {
    const BAN: Duration = Duration::from_secs(2);
    let (a, _a_events, b, mut b_events) = connected_pair(InboundQuota::default()).await;

    b.ban(peer(1), BAN).await;
    let banned_at = Instant::now();
    let deadline = banned_at + WAIT;
    while b.connected_peers().await.contains(&peer(1)) {
        assert!(Instant::now() < deadline, "still connected after the ban");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A redials (200 ms, 400 ms, ...) and is refused while the ban lasts.
    tokio::time::sleep(BAN / 2).await;
    assert!(!b.connected_peers().await.contains(&peer(1)));
    assert!(b.stats().peers_refused >= 1, "{:?}", b.stats());
    assert_eq!(b.stats().peers_banned, 1);
    // A stranger's ban is ignored (it is refused anyway).
    b.ban(peer(9), BAN).await;

    // Once the ban runs out A's next redial gets through, and its messages arrive again.
    wait_connected(&b, &[peer(1)]).await;
    assert!(
        banned_at.elapsed() >= BAN,
        "let back in after {:?}",
        banned_at.elapsed()
    );
    wait_connected(&a, &[peer(2)]).await;
    a.send(peer(2), b"after the ban".to_vec()).await;
    assert_eq!(
        next_message(&mut b_events).await,
        (peer(1), b"after the ban".to_vec())
    );
    assert_eq!(b.stats().peers_banned, 1, "{:?}", b.stats());
    a.shutdown().await;
    b.shutdown().await;
}

//! The network task: the only code that touches the [`Swarm`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use libp2p::allow_block_list::{self, AllowedPeers, NotAllowed};
use libp2p::bytes::Bytes;
use libp2p::connection_limits::{self, ConnectionLimits};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{DialError, ListenError, NetworkBehaviour, SwarmEvent};
use libp2p::{noise, tcp, yamux, Multiaddr, PeerId, Swarm};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::codec::{FrameCodec, MSG_PROTOCOL, SYNC_PROTOCOL};
use crate::{
    Command, Counters, InboundPermit, InboundQuota, NetConfig, NetError, NetEvent, Responder,
    BANNED_MAX, CONNECTIONS_PER_PEER_MAX, EVENT_QUEUE_BYTES_MAX, MAX_FRAME_BYTES, MSG_ACK_TIMEOUT,
    MSG_WINDOW_MAX, PEER_HELD_BYTES_MAX, PEER_HELD_MAX, PEER_QUEUE_BYTES_MAX, PEER_QUEUE_MAX,
    PENDING_INBOUND_MAX, REDIAL_BACKOFF_MAX, REDIAL_BACKOFF_MIN, SYNC_INBOUND_MAX,
    SYNC_INFLIGHT_MAX,
};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Streams one connection may run per request_response behaviour (inbound + outbound). Our
/// windows need at most `MSG_WINDOW_MAX` (or `SYNC_INFLIGHT_MAX`) each way; the rest is slack for
/// a peer with two connections to us. Both behaviours together stay under yamux's 512 streams.
const MAX_CONCURRENT_STREAMS: usize = 2 * MSG_WINDOW_MAX;

/// Connections stay open while idle: the committee is small and fixed, and reconnecting costs a
/// handshake on the consensus path.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// How often due redials are checked; fine enough for a 200 ms minimum backoff.
const REDIAL_TICK: Duration = Duration::from_millis(50);

/// How often held inbound messages are looked at again (quota refill, node caught up).
const QUOTA_TICK: Duration = Duration::from_millis(10);

/// Pending `listen_addrs` calls waiting for the first listener (bounded; excess are answered
/// at once with whatever is known).
const LISTEN_WAITERS_MAX: usize = 64;

/// The composed behaviour: connection limits and the allow-list first, so a stranger's (or an
/// extra) connection is denied before the other behaviours create handlers for it.
#[derive(NetworkBehaviour)]
struct Behaviour {
    limits: connection_limits::Behaviour,
    allow: allow_block_list::Behaviour<AllowedPeers>,
    msg: request_response::Behaviour<FrameCodec>,
    sync: request_response::Behaviour<FrameCodec>,
}

/// Redial state of one bootstrap peer.
#[derive(Debug)]
struct Redial {
    /// The configured address.
    addr: Multiaddr,
    /// Delay of the next scheduled redial.
    backoff: Duration,
    /// When the next redial is due; `None` while connected or while a dial is outstanding.
    due_at: Option<Instant>,
}

/// Outbound message state of one connected peer.
#[derive(Debug, Default)]
struct PeerQueue {
    /// Messages waiting for a window slot.
    queue: VecDeque<Bytes>,
    /// Sum of `queue` lengths, bounded by `PEER_QUEUE_BYTES_MAX`.
    queued_bytes: usize,
    /// Messages on the wire, not yet acked; at most `MSG_WINDOW_MAX`. Ids (not a count) so a late
    /// failure from a previous connection cannot free a slot of the current one.
    in_flight: HashSet<OutboundRequestId>,
}

/// Inbound state of one connected peer: its quota (a token bucket) and the messages that wait
/// for it, unacknowledged, in arrival order.
#[derive(Debug)]
struct Inbound {
    /// Messages the peer may still hand over now (at most one second's worth).
    msg_tokens: f64,
    /// Bytes it may still hand over now; may go negative by one message (a large frame passes
    /// when the bucket has anything, then the peer waits for the debt).
    byte_tokens: f64,
    /// When the bucket was last refilled.
    refilled: Instant,
    /// Messages waiting, with the channel their ack goes to; at most [`PEER_HELD_MAX`].
    held: VecDeque<(Bytes, ResponseChannel<Bytes>)>,
    /// Sum of `held` lengths, at most [`PEER_HELD_BYTES_MAX`].
    held_bytes: usize,
}

impl Inbound {
    fn new(quota: InboundQuota, now: Instant) -> Inbound {
        Inbound {
            msg_tokens: f64::from(quota.messages_per_sec),
            byte_tokens: Inbound::byte_burst(quota),
            refilled: now,
            held: VecDeque::new(),
            held_bytes: 0,
        }
    }

    fn byte_burst(quota: InboundQuota) -> f64 {
        (quota.bytes_per_sec as f64).max(MAX_FRAME_BYTES as f64)
    }

    fn refill(&mut self, quota: InboundQuota, now: Instant) {
        let secs = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        let msgs = f64::from(quota.messages_per_sec);
        self.msg_tokens = (self.msg_tokens + secs * msgs).min(msgs);
        self.byte_tokens =
            (self.byte_tokens + secs * quota.bytes_per_sec as f64).min(Inbound::byte_burst(quota));
    }

    /// Whether the peer's quota lets one more message through now.
    fn has_quota(&self) -> bool {
        self.msg_tokens >= 1.0 && self.byte_tokens > 0.0
    }

    fn spend(&mut self, len: usize) {
        self.msg_tokens -= 1.0;
        self.byte_tokens -= len as f64;
    }
}

/// An outbound sync request awaiting its answer.
struct PendingRequest {
    peer: PeerId,
    reply: oneshot::Sender<Result<Vec<u8>, NetError>>,
}

/// State of the network task. Fields are only touched from `run`.
pub(crate) struct NetTask {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetEvent>,
    counters: Arc<Counters>,
    /// The allow-list (committee and observers), also used to refuse sends/dials to strangers
    /// without touching libp2p.
    allowed: HashSet<PeerId>,
    /// The committee: always allowed, and the only broadcast targets.
    committee: HashSet<PeerId>,
    /// Bootstrap peers (bounded by the config).
    bootstrap: HashMap<PeerId, Redial>,
    /// Connected peers' outbound queues (bounded by the allow-list).
    peers: HashMap<PeerId, PeerQueue>,
    /// Outbound sync requests (bounded by `SYNC_INFLIGHT_MAX` per connected peer).
    requests: HashMap<OutboundRequestId, PendingRequest>,
    /// Outbound sync requests per peer, for the `SYNC_INFLIGHT_MAX` check.
    requests_per_peer: HashMap<PeerId, usize>,
    /// Sender side of the response queue; each `Responder` holds a reserved slot of it.
    responses_tx: mpsc::Sender<(ResponseChannel<Bytes>, Bytes)>,
    /// Answers from `Responder`s, to hand to libp2p.
    responses_rx: mpsc::Receiver<(ResponseChannel<Bytes>, Bytes)>,
    /// `listen_addrs` calls made before the first listener reported its address.
    listen_waiters: Vec<oneshot::Sender<Vec<Multiaddr>>>,
    /// Per-peer inbound quota.
    quota: InboundQuota,
    /// Connected peers' inbound state (bounded by the allow-list).
    inbound: HashMap<PeerId, Inbound>,
    /// Bytes of messages handed to the node and not yet dropped by it
    /// ([`InboundPermit`]); bounded by [`EVENT_QUEUE_BYTES_MAX`].
    pending_bytes: Arc<AtomicUsize>,
    /// Banned peers and when their ban ends (at most [`BANNED_MAX`]).
    banned: HashMap<PeerId, Instant>,
}

impl NetTask {
    /// Builds the swarm, starts listening and dials the bootstrap peers.
    pub(crate) fn new(
        config: NetConfig,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<NetEvent>,
        counters: Arc<Counters>,
    ) -> Result<Self, NetError> {
        let mut allow = allow_block_list::Behaviour::<AllowedPeers>::default();
        for peer in &config.allowed {
            allow.allow_peer(*peer);
        }
        let msg = request_response::Behaviour::with_codec(
            FrameCodec::default(),
            [(MSG_PROTOCOL, ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(MSG_ACK_TIMEOUT)
                .with_max_concurrent_streams(MAX_CONCURRENT_STREAMS),
        );
        let sync = request_response::Behaviour::with_codec(
            FrameCodec::default(),
            [(SYNC_PROTOCOL, ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(config.request_timeout)
                .with_max_concurrent_streams(MAX_CONCURRENT_STREAMS),
        );
        let limits = connection_limits::Behaviour::new(
            ConnectionLimits::default()
                .with_max_pending_incoming(Some(PENDING_INBOUND_MAX))
                .with_max_established_per_peer(Some(CONNECTIONS_PER_PEER_MAX)),
        );
        let behaviour = Behaviour {
            limits,
            allow,
            msg,
            sync,
        };

        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(config.keypair)
            .with_tokio()
            .with_tcp(
                tcp::Config::default(),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|error| NetError::Transport(error.to_string()))?
            .with_dns()
            .map_err(|error| NetError::Transport(error.to_string()))?
            .with_behaviour(|_| behaviour)
            .map_err(|error| NetError::Transport(error.to_string()))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
            .build();

        for addr in config.listen {
            swarm
                .listen_on(addr.clone())
                .map_err(|error| NetError::Listen {
                    addr,
                    reason: error.to_string(),
                })?;
        }

        for addr in config.advertise {
            swarm.add_external_address(addr);
        }

        let (responses_tx, responses_rx) = mpsc::channel(SYNC_INBOUND_MAX);
        let mut task = Self {
            swarm,
            commands,
            events,
            counters,
            committee: config.allowed.iter().copied().collect(),
            allowed: config.allowed.into_iter().collect(),
            bootstrap: HashMap::new(),
            peers: HashMap::new(),
            requests: HashMap::new(),
            requests_per_peer: HashMap::new(),
            responses_tx,
            responses_rx,
            listen_waiters: Vec::new(),
            quota: config.inbound,
            inbound: HashMap::new(),
            pending_bytes: Arc::new(AtomicUsize::new(0)),
            banned: HashMap::new(),
        };
        for (peer, addr) in config.bootstrap {
            if peer == *task.swarm.local_peer_id() {
                continue; // a shared peer list may include ourselves
            }
            if !task.allowed.contains(&peer) {
                tracing::warn!(%peer, %addr, "bootstrap peer is not in the allow-list; skipped");
                continue;
            }
            task.bootstrap.insert(
                peer,
                Redial {
                    addr,
                    backoff: REDIAL_BACKOFF_MIN,
                    due_at: None,
                },
            );
            task.dial(peer);
        }
        Ok(task)
    }

    /// The event loop; returns on shutdown or when every handle is dropped.
    pub(crate) async fn run(mut self) {
        let mut redial_tick = tokio::time::interval(REDIAL_TICK);
        redial_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut quota_tick = tokio::time::interval(QUOTA_TICK);
        quota_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let shutdown_ack = loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown(ack)) => break Some(ack),
                    Some(command) => self.on_command(command),
                    None => break None, // every handle dropped
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                Some((channel, bytes)) = self.responses_rx.recv() => {
                    // Err: the request timed out or its connection closed; libp2p reports that.
                    let _ = self.swarm.behaviour_mut().sync.send_response(channel, bytes);
                }
                _ = redial_tick.tick() => {
                    self.unban_due();
                    self.redial_due();
                }
                _ = quota_tick.tick(), if self.inbound.values().any(|i| !i.held.is_empty()) => {
                    self.release_held();
                }
            }
        };
        tracing::debug!(peer = %self.swarm.local_peer_id(), "network task stopping");
        for (_, pending) in self.requests.drain() {
            let _ = pending.reply.send(Err(NetError::Shutdown));
        }
        // Dropping the swarm closes listeners and connections before the caller is told.
        drop(self.swarm);
        if let Some(ack) = shutdown_ack {
            let _ = ack.send(());
        }
        // Remaining commands fail with `Shutdown` as the receiver drops.
        self.commands.close();
        while let Ok(command) = self.commands.try_recv() {
            if let Command::Shutdown(ack) = command {
                let _ = ack.send(());
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Send { peer, bytes } => self.enqueue(peer, bytes),
            Command::Broadcast { bytes } => {
                let peers: Vec<PeerId> = self
                    .peers
                    .keys()
                    .filter(|p| self.committee.contains(p))
                    .copied()
                    .collect();
                for peer in peers {
                    self.enqueue(peer, bytes.clone());
                }
            }
            Command::Request { peer, bytes, reply } => self.start_request(peer, bytes, reply),
            Command::ConnectedPeers(reply) => {
                let _ = reply.send(self.swarm.connected_peers().copied().collect());
            }
            Command::ListenAddrs(reply) => {
                let addrs: Vec<Multiaddr> = self.swarm.listeners().cloned().collect();
                if addrs.is_empty() && self.listen_waiters.len() < LISTEN_WAITERS_MAX {
                    self.listen_waiters.push(reply);
                } else {
                    let _ = reply.send(addrs);
                }
            }
            Command::SetObservers(peers) => self.set_observers(peers),
            Command::Ban { peer, duration } => self.ban(peer, duration),
            Command::Shutdown(_) => {} // handled in `run`
        }
    }

    /// Replace the admitted observers: disallowing a peer closes its connections (libp2p's
    /// allow-list behaviour does that); its queues go when the connections report closed.
    fn set_observers(&mut self, peers: Vec<PeerId>) {
        let new: HashSet<PeerId> = peers
            .into_iter()
            .chain(self.committee.iter().copied())
            .collect();
        let removed: Vec<PeerId> = self.allowed.difference(&new).copied().collect();
        let added: Vec<PeerId> = new.difference(&self.allowed).copied().collect();
        for peer in &removed {
            self.swarm.behaviour_mut().allow.disallow_peer(*peer);
            self.bootstrap.remove(peer);
            tracing::info!(%peer, "peer removed from the allow-list; disconnecting");
        }
        for peer in &added {
            if self.banned.contains_key(peer) {
                continue; // allowed again when the ban ends
            }
            self.swarm.behaviour_mut().allow.allow_peer(*peer);
            tracing::info!(%peer, "peer added to the allow-list");
        }
        self.allowed = new;
    }

    /// Refuses `peer` for `duration` (see [`crate::NetHandle::ban`]).
    fn ban(&mut self, peer: PeerId, duration: Duration) {
        if !self.allowed.contains(&peer) {
            return; // a stranger is refused anyway
        }
        if !self.banned.contains_key(&peer) && self.banned.len() >= BANNED_MAX {
            return;
        }
        Counters::bump(&self.counters.peers_banned);
        tracing::warn!(%peer, secs = duration.as_secs(), "peer banned; its connections are closed");
        self.banned.insert(peer, Instant::now() + duration);
        // Closes its connections; a redial or an inbound attempt is denied until the ban ends.
        self.swarm.behaviour_mut().allow.disallow_peer(peer);
    }

    /// Lifts the bans that ran out, and dials those peers if they are bootstrap peers.
    fn unban_due(&mut self) {
        if self.banned.is_empty() {
            return;
        }
        let now = Instant::now();
        let due: Vec<PeerId> = self
            .banned
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in due {
            self.banned.remove(&peer);
            if self.allowed.contains(&peer) {
                self.swarm.behaviour_mut().allow.allow_peer(peer);
                tracing::info!(%peer, "ban lifted");
                self.dial(peer);
            }
        }
    }

    /// Queues a message for a connected peer, or drops it (and dials) if there is none.
    fn enqueue(&mut self, peer: PeerId, bytes: Bytes) {
        let Some(state) = self.peers.get_mut(&peer) else {
            Counters::bump(&self.counters.messages_dropped);
            tracing::debug!(%peer, "dropping message to a peer that is not connected");
            self.dial_if_known(peer);
            return;
        };
        if state.queue.len() >= PEER_QUEUE_MAX
            || state.queued_bytes.saturating_add(bytes.len()) > PEER_QUEUE_BYTES_MAX
        {
            Counters::bump(&self.counters.messages_dropped);
            tracing::debug!(%peer, queued = state.queue.len(), "peer queue full; message dropped");
            return;
        }
        state.queued_bytes += bytes.len();
        state.queue.push_back(bytes);
        self.pump(peer);
    }

    /// Moves queued messages to the wire while the peer's window has room.
    fn pump(&mut self, peer: PeerId) {
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        while state.in_flight.len() < MSG_WINDOW_MAX {
            let Some(bytes) = state.queue.pop_front() else {
                break;
            };
            state.queued_bytes -= bytes.len();
            let id = self.swarm.behaviour_mut().msg.send_request(&peer, bytes);
            state.in_flight.insert(id);
        }
        debug_assert!(state.in_flight.len() <= MSG_WINDOW_MAX);
        debug_assert!(state.queued_bytes <= PEER_QUEUE_BYTES_MAX);
    }

    /// Frees a window slot of `peer` (if `id` belongs to its current connection state).
    fn message_done(&mut self, peer: PeerId, id: OutboundRequestId) {
        let freed = self
            .peers
            .get_mut(&peer)
            .is_some_and(|state| state.in_flight.remove(&id));
        if freed {
            self.pump(peer);
        }
    }

    fn start_request(
        &mut self,
        peer: PeerId,
        bytes: Bytes,
        reply: oneshot::Sender<Result<Vec<u8>, NetError>>,
    ) {
        let refusal = if !self.allowed.contains(&peer) {
            Some(NetError::NotAllowed(peer))
        } else if !self.peers.contains_key(&peer) {
            self.dial_if_known(peer);
            Some(NetError::NotConnected(peer))
        } else if self.requests_per_peer.get(&peer).copied().unwrap_or(0) >= SYNC_INFLIGHT_MAX {
            Some(NetError::Busy(peer))
        } else {
            None
        };
        if let Some(error) = refusal {
            Counters::bump(&self.counters.requests_failed);
            let _ = reply.send(Err(error));
            return;
        }
        let id = self.swarm.behaviour_mut().sync.send_request(&peer, bytes);
        *self.requests_per_peer.entry(peer).or_insert(0) += 1;
        self.requests.insert(id, PendingRequest { peer, reply });
    }

    fn finish_request(&mut self, id: OutboundRequestId, result: Result<Vec<u8>, NetError>) {
        let Some(pending) = self.requests.remove(&id) else {
            return;
        };
        if let Some(count) = self.requests_per_peer.get_mut(&pending.peer) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.requests_per_peer.remove(&pending.peer);
            }
        }
        let counter = if result.is_ok() {
            &self.counters.requests_sent
        } else {
            &self.counters.requests_failed
        };
        Counters::bump(counter);
        // The caller may have given up (timeout); nothing to do then.
        let _ = pending.reply.send(result);
    }

    /// Hands an event to the node without ever waiting; a full channel drops it.
    fn emit(&self, event: NetEvent) {
        if self.events.try_send(event).is_err() {
            Counters::bump(&self.counters.events_dropped);
            tracing::debug!("event channel full or closed; event dropped");
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Msg(event)) => self.on_msg_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Allow(never)) => match never {},
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                tracing::debug!(peer = %peer_id, addr = %endpoint.get_remote_address(), "connected");
                if let Some(redial) = self.bootstrap.get_mut(&peer_id) {
                    redial.backoff = REDIAL_BACKOFF_MIN;
                    redial.due_at = None;
                }
                if num_established.get() == 1 {
                    self.peers.insert(peer_id, PeerQueue::default());
                    self.inbound
                        .insert(peer_id, Inbound::new(self.quota, Instant::now()));
                    self.emit(NetEvent::PeerConnected(peer_id));
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                cause,
                ..
            } => {
                tracing::debug!(peer = %peer_id, ?cause, num_established, "connection closed");
                if num_established == 0 {
                    // Held messages are lost with their acks (the peer sees failures).
                    self.inbound.remove(&peer_id);
                    if let Some(state) = self.peers.remove(&peer_id) {
                        // Queued messages cannot be delivered; in-flight ones are counted when
                        // request_response reports their failure.
                        let lost = state.queue.len() as u64;
                        self.counters
                            .messages_dropped
                            .fetch_add(lost, std::sync::atomic::Ordering::Relaxed);
                    }
                    self.schedule_redial(peer_id);
                    self.emit(NetEvent::PeerDisconnected(peer_id));
                }
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                peer_id,
                ..
            } => match (&error, peer_id) {
                (ListenError::Denied { cause }, Some(peer))
                    if cause.downcast_ref::<NotAllowed>().is_some() =>
                {
                    self.refused(peer, Some(send_back_addr));
                }
                _ => {
                    tracing::debug!(addr = %send_back_addr, %error, "inbound connection failed");
                }
            },
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                if let (DialError::Denied { cause }, Some(peer)) = (&error, peer_id) {
                    if cause.downcast_ref::<NotAllowed>().is_some() {
                        self.refused(peer, None);
                    }
                }
                tracing::debug!(peer = ?peer_id, %error, "dial failed");
                if let Some(peer) = peer_id {
                    if !self.swarm.is_connected(&peer) {
                        self.schedule_redial(peer);
                    }
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                let addrs: Vec<Multiaddr> = self.swarm.listeners().cloned().collect();
                for waiter in self.listen_waiters.drain(..) {
                    let _ = waiter.send(addrs.clone());
                }
            }
            SwarmEvent::ListenerClosed {
                addresses, reason, ..
            } => {
                tracing::warn!(?addresses, ?reason, "listener closed");
                self.answer_listen_waiters_if_no_listener();
            }
            SwarmEvent::ListenerError { error, .. } => {
                tracing::warn!(%error, "listener error");
                self.answer_listen_waiters_if_no_listener();
            }
            _ => {}
        }
    }

    fn answer_listen_waiters_if_no_listener(&mut self) {
        if self.swarm.listeners().next().is_none() {
            for waiter in self.listen_waiters.drain(..) {
                let _ = waiter.send(Vec::new());
            }
        }
    }

    fn refused(&self, peer: PeerId, addr: Option<Multiaddr>) {
        if self.banned.contains_key(&peer) {
            Counters::bump(&self.counters.peers_refused);
            tracing::debug!(%peer, addr = ?addr, "refused connection: peer is banned");
            return;
        }
        tracing::warn!(%peer, addr = ?addr, "refused connection: peer is not in the allow-list");
        Counters::bump(&self.counters.peers_refused);
        self.emit(NetEvent::Refused { peer, addr });
    }

    fn on_msg_event(&mut self, event: request_response::Event<Bytes, Bytes>) {
        use request_response::{Event, Message};
        match event {
            Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                Counters::bump(&self.counters.messages_received);
                self.admit(peer, request, channel);
            }
            Event::Message {
                peer,
                message: Message::Response { request_id, .. },
                ..
            } => {
                Counters::bump(&self.counters.messages_sent);
                self.message_done(peer, request_id);
            }
            Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                tracing::debug!(%peer, %error, "message not delivered");
                Counters::bump(&self.counters.messages_dropped);
                self.message_done(peer, request_id);
            }
            Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "inbound message failed");
            }
            Event::ResponseSent { .. } => {}
        }
    }

    /// An inbound message: handed to the node and acked at once while its sender is within its
    /// quota and the node keeps up; otherwise it waits, unacked, behind the sender's earlier
    /// held messages (the sender's window then fills and it slows down); refused when the
    /// sender's held queue is full.
    fn admit(&mut self, peer: PeerId, request: Bytes, channel: ResponseChannel<Bytes>) {
        let Some(inbound) = self.inbound.get_mut(&peer) else {
            return; // not connected any more: dropping the channel fails the request
        };
        if inbound.held.len() >= PEER_HELD_MAX
            || inbound.held_bytes.saturating_add(request.len()) > PEER_HELD_BYTES_MAX
        {
            Counters::bump(&self.counters.messages_refused);
            tracing::debug!(%peer, held = inbound.held.len(), "peer over its quota; message refused");
            return;
        }
        let queued_behind = !inbound.held.is_empty();
        inbound.held_bytes += request.len();
        inbound.held.push_back((request, channel));
        let passed = self.release(peer);
        if queued_behind || passed == 0 {
            Counters::bump(&self.counters.messages_held);
        }
    }

    /// Hands `peer`'s held messages to the node while its quota and the node's byte budget
    /// allow; returns how many went.
    fn release(&mut self, peer: PeerId) -> usize {
        let Some(inbound) = self.inbound.get_mut(&peer) else {
            return 0;
        };
        inbound.refill(self.quota, Instant::now());
        let mut passed = 0;
        while inbound.has_quota() {
            let Some((bytes, _)) = inbound.held.front() else {
                break;
            };
            let pending = self.pending_bytes.load(Ordering::Acquire);
            if pending > 0 && pending.saturating_add(bytes.len()) > EVENT_QUEUE_BYTES_MAX {
                break; // the node is behind: wait for it
            }
            let Some((bytes, channel)) = inbound.held.pop_front() else {
                break;
            };
            inbound.held_bytes -= bytes.len();
            inbound.spend(bytes.len());
            passed += 1;
            // The ack frees the sender's window slot.
            let _ = self
                .swarm
                .behaviour_mut()
                .msg
                .send_response(channel, Bytes::new());
            let permit = InboundPermit::new(bytes.len(), &self.pending_bytes);
            let event = NetEvent::Message {
                from: peer,
                bytes: Vec::from(bytes),
                permit,
            };
            if self.events.try_send(event).is_err() {
                Counters::bump(&self.counters.events_dropped);
                tracing::debug!("event channel full or closed; message dropped");
            }
        }
        passed
    }

    /// Releases what every peer's refilled quota now allows.
    fn release_held(&mut self) {
        let waiting: Vec<PeerId> = self
            .inbound
            .iter()
            .filter(|(_, i)| !i.held.is_empty())
            .map(|(p, _)| *p)
            .collect();
        for peer in waiting {
            self.release(peer);
        }
    }

    fn on_sync_event(&mut self, event: request_response::Event<Bytes, Bytes>) {
        use request_response::{Event, Message};
        match event {
            Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                Counters::bump(&self.counters.requests_received);
                // Reserve the answer's slot now so `Responder::send` can never block or fail.
                match self.responses_tx.clone().try_reserve_owned() {
                    Ok(permit) => self.emit(NetEvent::Request {
                        from: peer,
                        bytes: Vec::from(request),
                        reply: Responder { permit, channel },
                    }),
                    Err(_) => {
                        // Dropping `channel` tells the peer there is no answer.
                        Counters::bump(&self.counters.requests_dropped);
                        tracing::debug!(%peer, "too many unanswered sync requests; dropped");
                    }
                }
            }
            Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => self.finish_request(request_id, Ok(Vec::from(response))),
            Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                let result = match error {
                    request_response::OutboundFailure::Timeout => Err(NetError::Timeout),
                    other => Err(NetError::RequestFailed {
                        peer,
                        reason: other.to_string(),
                    }),
                };
                self.finish_request(request_id, result);
            }
            Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "inbound sync request failed");
            }
            Event::ResponseSent { .. } => {}
        }
    }

    /// Dials a bootstrap peer now (unless connected or already dialling).
    fn dial(&mut self, peer: PeerId) {
        if self.banned.contains_key(&peer) {
            return;
        }
        let Some(redial) = self.bootstrap.get(&peer) else {
            return;
        };
        let opts = DialOpts::peer_id(peer)
            .addresses(vec![redial.addr.clone()])
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build();
        match self.swarm.dial(opts) {
            Ok(()) | Err(DialError::DialPeerConditionFalse(_)) => {}
            Err(error) => {
                tracing::debug!(%peer, %error, "dial rejected");
                self.schedule_redial(peer);
            }
        }
    }

    /// A send or request to a disconnected peer: dial it if we know where it is. The redial
    /// schedule is left alone; the dial outcome feeds it as usual.
    fn dial_if_known(&mut self, peer: PeerId) {
        if self.bootstrap.contains_key(&peer) && !self.swarm.is_connected(&peer) {
            self.dial(peer);
        }
    }

    fn schedule_redial(&mut self, peer: PeerId) {
        let Some(redial) = self.bootstrap.get_mut(&peer) else {
            return;
        };
        if redial.due_at.is_none() {
            redial.due_at = Some(Instant::now() + redial.backoff);
            tracing::debug!(%peer, backoff_ms = redial.backoff.as_millis() as u64, "redial scheduled");
            redial.backoff = (redial.backoff * 2).min(REDIAL_BACKOFF_MAX);
        }
    }

    fn redial_due(&mut self) {
        let now = Instant::now();
        let due: Vec<PeerId> = self
            .bootstrap
            .iter_mut()
            .filter_map(|(peer, redial)| match redial.due_at {
                Some(at) if at <= now => {
                    redial.due_at = None;
                    Some(*peer)
                }
                _ => None,
            })
            .collect();
        for peer in due {
            if !self.swarm.is_connected(&peer) {
                self.dial(peer);
            }
        }
    }
}

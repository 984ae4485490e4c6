//! # settlenet-net
//!
//! The libp2p networking edge of a SettleNet node.
//!
//! ## Overview
//!
//! [`spawn`] starts one tokio task that owns the libp2p [`Swarm`](libp2p::Swarm) (TCP + noise +
//! yamux). The node talks to it through a cloneable [`NetHandle`] and receives [`NetEvent`]s on a
//! bounded channel. Payloads are opaque bytes: the node encodes consensus messages, transaction
//! batches and sync requests itself.
//!
//! - **Permissioned.** Only peer ids in [`NetConfig::allowed`] (taken from the genesis) may hold a
//!   connection. Anyone else is refused after the noise handshake (which proves the peer id), logged
//!   with `tracing::warn!` and reported as [`NetEvent::Refused`].
//! - **Bootstrap and redial.** Every [`NetConfig::bootstrap`] peer is dialled at start and redialled
//!   with exponential backoff (200 ms doubling to 10 s, reset by a successful connection) whenever its
//!   last connection closes or a dial fails. Both sides may dial each other; both connections are kept.
//! - **Messages** ([`NetHandle::send`], [`NetHandle::broadcast`]): fire-and-forget over
//!   `/settlenet/msg/1`; the receiver's network task answers each with an empty ack, which only
//!   frees a slot in the sender's window. Delivery is best effort: consensus tolerates loss.
//! - **Quotas and back-pressure.** Each peer may hand the node [`NetConfig::inbound`] messages
//!   and bytes a second (a token bucket). Over it, or while the node has
//!   [`EVENT_QUEUE_BYTES_MAX`] of messages unhandled, a message waits unacknowledged in the
//!   peer's held queue (so the sender's window fills and it slows down); past [`PEER_HELD_MAX`]
//!   it is refused. [`NetHandle::ban`] closes a peer's connections and refuses it for a while.
//! - **Requests** ([`NetHandle::request`]): over `/settlenet/sync/1`; the remote node answers through
//!   the [`Responder`] of its [`NetEvent::Request`], within [`NetConfig::request_timeout`].
//!
//! ## Design
//!
//! ```text
//!   node tasks                          network task (sole owner of the Swarm)
//!  ┌───────────┐  Command (bounded,     ┌───────────────────────────────────────────┐
//!  │ NetHandle ├──COMMAND_QUEUE_MAX)──▶│ select! { command, swarm event, response, │
//!  │  (Clone)  │◀── oneshot replies ───│           redial tick }                   │
//!  └───────────┘                       │                                           │
//!  ┌───────────┐  NetEvent (bounded,   │  Behaviour = allow-list                   │ TCP/noise/yamux
//!  │ node loop │◀─EVENT_QUEUE_MAX)─────│            + request_response msg/1       │◀──────▶ peers
//!  └─────┬─────┘                       │            + request_response sync/1      │
//!        │ Responder::send (slot       │  per peer: message queue + in-flight      │
//!        └─reserved in advance)───────▶│            window, sync request count     │
//!                                      └───────────────────────────────────────────┘
//! ```
//!
//! Every queue is bounded, and the network task never waits on the node:
//!
//! | what                                      | bound                        | when full            |
//! |-------------------------------------------|------------------------------|----------------------|
//! | handle → task commands                    | [`COMMAND_QUEUE_MAX`]        | `send` waits, `try_send` errs |
//! | task → node events                        | [`EVENT_QUEUE_MAX`]          | event dropped, counted |
//! | messages queued for one peer              | [`PEER_QUEUE_MAX`], [`PEER_QUEUE_BYTES_MAX`] | message dropped, counted |
//! | messages in flight (unacked) to one peer  | [`MSG_WINDOW_MAX`]           | wait in the peer queue |
//! | sync requests in flight to one peer       | [`SYNC_INFLIGHT_MAX`]        | `request` errs `Busy` |
//! | inbound messages per peer per second      | [`InboundQuota`]             | held, unacked        |
//! | inbound messages held for one peer        | [`PEER_HELD_MAX`], [`PEER_HELD_BYTES_MAX`] | refused, counted |
//! | message bytes handed to the node, unhandled | [`EVENT_QUEUE_BYTES_MAX`]  | held, unacked        |
//! | handshakes in progress / connections per peer | [`PENDING_INBOUND_MAX`] / [`CONNECTIONS_PER_PEER_MAX`] | connection denied |
//! | banned peers                              | [`BANNED_MAX`]               | ban ignored          |
//! | inbound sync requests awaiting an answer  | [`SYNC_INBOUND_MAX`]         | request dropped, counted |
//! | frame size                                | [`MAX_FRAME_BYTES`] (32 MiB) | stream error, never an allocation |
//!
//! Per-peer state exists only for connected peers, and only allowed peers can connect, so no map
//! grows with input a stranger controls. A message to a peer that is not connected triggers a dial
//! (if its address is known) and is dropped. The windows keep the streams a connection needs
//! (in + out, both protocols) below yamux's 512 and request_response's `max_concurrent_streams`.
//!
//! Because the node never blocks the network task, the node may await [`NetHandle`] calls from the
//! same loop that drains events without deadlock. The price: a node that stops draining events
//! loses them (see [`NetStats::events_dropped`]).
//!
//! ## Invariants
//!
//! - No connection to a peer outside the allow-list survives the handshake.
//! - Every [`NetEvent::Message`]/[`NetEvent::Request`] comes from an allowed, authenticated peer.
//! - Memory is bounded by the limits above times the number of allowed peers.
//! - A bad frame from a peer is a stream error and a counter, never a panic.
//!
//! ## Layout
//!
//! - `lib.rs`: public API (config, handle, events, errors, stats, key helpers).
//! - `codec.rs`: length-prefixed frame codec of both protocols.
//! - `task.rs`: the network task: swarm construction, event loop, redial, per-peer windows.

mod codec;
mod task;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use libp2p::bytes::Bytes;
use libp2p::request_response::ResponseChannel;
use tokio::sync::{mpsc, oneshot};

pub use codec::{FrameCodec, MAX_FRAME_BYTES, MSG_PROTOCOL, SYNC_PROTOCOL};
pub use libp2p::{identity, Multiaddr, PeerId};

/// Capacity of the handle → network task command channel.
pub const COMMAND_QUEUE_MAX: usize = 4096;
/// Capacity of the network task → node event channel.
pub const EVENT_QUEUE_MAX: usize = 16_384;
/// Messages queued (not yet on the wire) for one peer.
pub const PEER_QUEUE_MAX: usize = 16_384;
/// Bytes queued (not yet on the wire) for one peer.
pub const PEER_QUEUE_BYTES_MAX: usize = 256 * 1024 * 1024;
/// Messages sent to one peer and not yet acknowledged.
pub const MSG_WINDOW_MAX: usize = 128;
/// Sync requests sent to one peer and not yet answered.
pub const SYNC_INFLIGHT_MAX: usize = 32;
/// Inbound sync requests handed to the node and not yet answered (across all peers).
pub const SYNC_INBOUND_MAX: usize = 256;
/// First redial delay after a bootstrap peer is lost.
pub const REDIAL_BACKOFF_MIN: Duration = Duration::from_millis(200);
/// Longest redial delay.
pub const REDIAL_BACKOFF_MAX: Duration = Duration::from_secs(10);
/// How long a message may wait for its ack before it counts as dropped.
pub const MSG_ACK_TIMEOUT: Duration = Duration::from_secs(30);
/// Inbound messages from one peer waiting for its quota (their acks withheld, so a sender
/// that respects its window stops at [`MSG_WINDOW_MAX`]); more are refused.
pub const PEER_HELD_MAX: usize = 2 * MSG_WINDOW_MAX;
/// Bytes of inbound messages from one peer waiting for its quota; more are refused.
pub const PEER_HELD_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Bytes of messages handed to the node and not yet consumed (all peers together). Past it,
/// messages wait in their sender's held queue (back-pressure), then are refused.
pub const EVENT_QUEUE_BYTES_MAX: usize = 512 * 1024 * 1024;
/// Inbound connections still in their handshake (a stranger's cost before it is refused).
pub const PENDING_INBOUND_MAX: u32 = 64;
/// Established connections per peer (both directions together).
pub const CONNECTIONS_PER_PEER_MAX: u32 = 2;
/// Peers banned at once (at most the allow-list; this bounds the map anyway).
pub const BANNED_MAX: usize = 1024;

/// How much one peer may hand this node: a token bucket per connected peer, refilled
/// continuously, with a burst of one second's worth (and at least one largest frame of bytes).
/// A message over its sender's quota waits, unacknowledged, in that peer's held queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboundQuota {
    /// Messages per second.
    pub messages_per_sec: u32,
    /// Bytes per second.
    pub bytes_per_sec: u64,
}

impl Default for InboundQuota {
    /// 4,000 messages and 64 MiB a second: several times what one honest validator sends at
    /// the rated load (docs/security.md), far below what verifying junk at that rate costs.
    fn default() -> Self {
        InboundQuota {
            messages_per_sec: 4_000,
            bytes_per_sec: 64 * 1024 * 1024,
        }
    }
}

/// Everything the network task needs; built by the node from its key file and the genesis.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// This node's identity; its public key is the peer id other nodes allow.
    pub keypair: identity::Keypair,
    /// Addresses to listen on, e.g. `/ip4/0.0.0.0/tcp/7000`.
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start and to keep redialling when lost.
    pub bootstrap: Vec<(PeerId, Multiaddr)>,
    /// The committee: peers always allowed to connect (in either direction), and the only ones
    /// [`NetHandle::broadcast`] reaches. More peers (observers) are admitted at run time with
    /// [`NetHandle::set_observers`].
    pub allowed: Vec<PeerId>,
    /// Addresses other nodes reach this one at, when they differ from `listen` (behind NAT, a
    /// container's published port, a DNS name): `/dns4/bank-a.example/tcp/26600`.
    pub advertise: Vec<Multiaddr>,
    /// Timeout of an outbound sync request, and how long the node has to answer an inbound one.
    pub request_timeout: Duration,
    /// What each peer may send this node per second.
    pub inbound: InboundQuota,
}

/// The one error type of this crate.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A key seed or key file did not make a valid key.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// The transport could not be built.
    #[error("transport setup failed: {0}")]
    Transport(String),
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address from [`NetConfig::listen`].
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// The peer is not connected (a dial was attempted if its address is known).
    #[error("peer {0} is not connected")]
    NotConnected(PeerId),
    /// The peer is not in the allow-list.
    #[error("peer {0} is not allowed")]
    NotAllowed(PeerId),
    /// Too many requests are already in flight to this peer.
    #[error("too many requests in flight to {0}")]
    Busy(PeerId),
    /// The payload is larger than [`MAX_FRAME_BYTES`].
    #[error("payload of {0} bytes exceeds the frame limit")]
    FrameTooLarge(usize),
    /// The command queue is full (only from non-waiting calls such as [`NetHandle::try_send`]).
    #[error("network command queue is full")]
    QueueFull,
    /// The request failed on the wire (dial failure, timeout, closed connection, I/O error...).
    #[error("request to {peer} failed: {reason}")]
    RequestFailed {
        /// The peer the request went to.
        peer: PeerId,
        /// The libp2p failure, as text.
        reason: String,
    },
    /// No answer within the request timeout.
    #[error("request timed out")]
    Timeout,
    /// The network task has stopped.
    #[error("network task has shut down")]
    Shutdown,
}

/// What the network task reports to the node.
#[derive(Debug)]
pub enum NetEvent {
    /// A fire-and-forget message from an allowed peer.
    Message {
        /// Authenticated sender.
        from: PeerId,
        /// Opaque payload, at most [`MAX_FRAME_BYTES`].
        bytes: Vec<u8>,
        /// Its share of [`EVENT_QUEUE_BYTES_MAX`], given back when dropped: keep it until the
        /// message is handled.
        permit: InboundPermit,
    },
    /// A sync request; answer it through `reply` within the request timeout.
    Request {
        /// Authenticated sender.
        from: PeerId,
        /// Opaque payload.
        bytes: Vec<u8>,
        /// Send the answer through this; dropping it answers nothing (the peer sees a failure).
        reply: Responder,
    },
    /// The first connection to an allowed peer was established.
    PeerConnected(PeerId),
    /// The last connection to a peer closed.
    PeerDisconnected(PeerId),
    /// A peer outside the allow-list tried to connect and was refused.
    Refused {
        /// The (handshake-authenticated) peer id that was refused.
        peer: PeerId,
        /// Its address, when known.
        addr: Option<Multiaddr>,
    },
}

/// The answer slot of one inbound sync request ([`NetEvent::Request`]).
///
/// A slot in the network task's response queue is reserved when the request is handed out, so
/// [`Responder::send`] never waits and never fails for lack of room.
#[derive(Debug)]
pub struct Responder {
    /// The reserved slot, carrying the libp2p response channel to the network task.
    permit: mpsc::OwnedPermit<(ResponseChannel<Bytes>, Bytes)>,
    /// The libp2p channel the answer goes to.
    channel: ResponseChannel<Bytes>,
}

impl Responder {
    /// Answers the request. Never blocks. An answer over [`MAX_FRAME_BYTES`], or one sent after
    /// the request timed out, is dropped by the network task.
    pub fn send(self, bytes: Vec<u8>) {
        self.permit.send((self.channel, Bytes::from(bytes)));
    }
}

/// A message's bytes counted against [`EVENT_QUEUE_BYTES_MAX`] until this is dropped.
#[derive(Debug)]
pub struct InboundPermit {
    bytes: usize,
    pending: Arc<AtomicUsize>,
}

impl InboundPermit {
    fn new(bytes: usize, pending: &Arc<AtomicUsize>) -> InboundPermit {
        pending.fetch_add(bytes, Ordering::AcqRel);
        InboundPermit {
            bytes,
            pending: pending.clone(),
        }
    }
}

impl Drop for InboundPermit {
    fn drop(&mut self) {
        self.pending.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// Counters since start; all monotonic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Messages acknowledged by the receiving peer's network task.
    pub messages_sent: u64,
    /// Messages received from peers (whether or not the node then took the event).
    pub messages_received: u64,
    /// Outbound messages dropped: peer not connected, queue full, too large, no ack.
    pub messages_dropped: u64,
    /// Events (messages, requests, peer notices) dropped because the event channel was full.
    pub events_dropped: u64,
    /// Outbound sync requests answered successfully.
    pub requests_sent: u64,
    /// Outbound sync requests that failed (not connected, busy, timeout, wire error).
    pub requests_failed: u64,
    /// Inbound sync requests received.
    pub requests_received: u64,
    /// Inbound sync requests dropped because [`SYNC_INBOUND_MAX`] were already pending.
    pub requests_dropped: u64,
    /// Connections refused because the peer is not in the allow-list (or is banned).
    pub peers_refused: u64,
    /// Inbound messages that waited for their sender's quota (or for the node to catch up).
    pub messages_held: u64,
    /// Inbound messages refused because their sender's held queue was full.
    pub messages_refused: u64,
    /// Bans imposed ([`NetHandle::ban`]).
    pub peers_banned: u64,
}

/// Shared atomic counters behind [`NetStats`]; written by the network task, read by handles.
#[derive(Debug, Default)]
struct Counters {
    messages_sent: AtomicU64,
    messages_received: AtomicU64,
    messages_dropped: AtomicU64,
    events_dropped: AtomicU64,
    requests_sent: AtomicU64,
    requests_failed: AtomicU64,
    requests_received: AtomicU64,
    requests_dropped: AtomicU64,
    peers_refused: AtomicU64,
    messages_held: AtomicU64,
    messages_refused: AtomicU64,
    peers_banned: AtomicU64,
}

impl Counters {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> NetStats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        NetStats {
            messages_sent: get(&self.messages_sent),
            messages_received: get(&self.messages_received),
            messages_dropped: get(&self.messages_dropped),
            events_dropped: get(&self.events_dropped),
            requests_sent: get(&self.requests_sent),
            requests_failed: get(&self.requests_failed),
            requests_received: get(&self.requests_received),
            requests_dropped: get(&self.requests_dropped),
            peers_refused: get(&self.peers_refused),
            messages_held: get(&self.messages_held),
            messages_refused: get(&self.messages_refused),
            peers_banned: get(&self.peers_banned),
        }
    }
}

/// What a handle asks of the network task.
enum Command {
    Send {
        peer: PeerId,
        bytes: Bytes,
    },
    Broadcast {
        bytes: Bytes,
    },
    Request {
        peer: PeerId,
        bytes: Bytes,
        reply: oneshot::Sender<Result<Vec<u8>, NetError>>,
    },
    ConnectedPeers(oneshot::Sender<Vec<PeerId>>),
    ListenAddrs(oneshot::Sender<Vec<Multiaddr>>),
    SetObservers(Vec<PeerId>),
    Ban {
        peer: PeerId,
        duration: Duration,
    },
    Shutdown(oneshot::Sender<()>),
}

/// Cloneable handle to the network task. All methods are cheap; none waits on the network
/// except [`NetHandle::request`].
#[derive(Clone, Debug)]
pub struct NetHandle {
    /// Bounded command channel into the network task.
    commands: mpsc::Sender<Command>,
    /// This node's peer id (fixed for the task's life).
    local_peer_id: PeerId,
    /// Outer bound on [`NetHandle::request`], in case the task itself stalls.
    request_timeout: Duration,
    /// Counters written by the task.
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Send { peer, bytes } => write!(f, "Send({peer}, {} bytes)", bytes.len()),
            Command::Broadcast { bytes } => write!(f, "Broadcast({} bytes)", bytes.len()),
            Command::Request { peer, bytes, .. } => {
                write!(f, "Request({peer}, {} bytes)", bytes.len())
            }
            Command::ConnectedPeers(_) => write!(f, "ConnectedPeers"),
            Command::ListenAddrs(_) => write!(f, "ListenAddrs"),
            Command::SetObservers(peers) => write!(f, "SetObservers({} peers)", peers.len()),
            Command::Ban { peer, duration } => write!(f, "Ban({peer}, {duration:?})"),
            Command::Shutdown(_) => write!(f, "Shutdown"),
        }
    }
}

impl NetHandle {
    /// This node's peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    /// Queues a message to `peer`; waits only if the command queue is full. Best effort: dropped
    /// (and counted) if the peer is not connected, its queue is full, or it is too large.
    pub async fn send(&self, peer: PeerId, bytes: Vec<u8>) {
        if let Some(bytes) = self.checked_payload(bytes) {
            // A closed channel means shutdown: the message is dropped like any undeliverable one.
            let _ = self.commands.send(Command::Send { peer, bytes }).await;
        }
    }

    /// Like [`NetHandle::send`] but never waits: `Err(QueueFull)` if the command queue is full.
    pub fn try_send(&self, peer: PeerId, bytes: Vec<u8>) -> Result<(), NetError> {
        let bytes = Bytes::from(bytes);
        if bytes.len() > MAX_FRAME_BYTES {
            Counters::bump(&self.counters.messages_dropped);
            return Err(NetError::FrameTooLarge(bytes.len()));
        }
        self.commands
            .try_send(Command::Send { peer, bytes })
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => NetError::QueueFull,
                mpsc::error::TrySendError::Closed(_) => NetError::Shutdown,
            })
    }

    /// Queues a message to every connected peer (one shared buffer); best effort like `send`.
    pub async fn broadcast(&self, bytes: Vec<u8>) {
        if let Some(bytes) = self.checked_payload(bytes) {
            let _ = self.commands.send(Command::Broadcast { bytes }).await;
        }
    }

    /// Like [`NetHandle::broadcast`] but never waits: `Err(QueueFull)` if the queue is full.
    pub fn try_broadcast(&self, bytes: Vec<u8>) -> Result<(), NetError> {
        let bytes = Bytes::from(bytes);
        if bytes.len() > MAX_FRAME_BYTES {
            Counters::bump(&self.counters.messages_dropped);
            return Err(NetError::FrameTooLarge(bytes.len()));
        }
        self.commands
            .try_send(Command::Broadcast { bytes })
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => NetError::QueueFull,
                mpsc::error::TrySendError::Closed(_) => NetError::Shutdown,
            })
    }

    /// Sends a sync request to a connected peer and waits for its answer (at most the request
    /// timeout). A peer that is not connected fails at once with `NotConnected` (and is dialled).
    pub async fn request(&self, peer: PeerId, bytes: Vec<u8>) -> Result<Vec<u8>, NetError> {
        if bytes.len() > MAX_FRAME_BYTES {
            return Err(NetError::FrameTooLarge(bytes.len()));
        }
        let (reply, answer) = oneshot::channel();
        let command = Command::Request {
            peer,
            bytes: Bytes::from(bytes),
            reply,
        };
        self.commands
            .send(command)
            .await
            .map_err(|_| NetError::Shutdown)?;
        // libp2p enforces `request_timeout` itself; the margin only guards against a stalled task.
        let bound = self.request_timeout + Duration::from_secs(1);
        match tokio::time::timeout(bound, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(NetError::Shutdown),
            Err(_) => Err(NetError::Timeout),
        }
    }

    /// Peers with at least one open connection.
    pub async fn connected_peers(&self) -> Vec<PeerId> {
        self.ask(Command::ConnectedPeers).await.unwrap_or_default()
    }

    /// The addresses the node listens on (ports resolved). Waits for the first listener to come
    /// up, so it is safe to call right after [`spawn`].
    pub async fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.ask(Command::ListenAddrs).await.unwrap_or_default()
    }

    /// Replace the set of observers admitted besides the committee (a validator admits the
    /// observers its members registered on the ledger). Connections to peers no longer admitted
    /// are closed at once; newly admitted ones may connect (they dial us). Observers receive no
    /// broadcast; they may send requests (and are answered as the node decides).
    pub async fn set_observers(&self, peers: Vec<PeerId>) {
        let _ = self.commands.send(Command::SetObservers(peers)).await;
    }

    /// Closes every connection to an allowed `peer` and refuses it (both directions) for
    /// `duration`; then it is allowed again (and redialled if it is a bootstrap peer). For a
    /// peer that misbehaves provably (invalid signatures): a validator banned for a while is
    /// one of the f faults consensus tolerates. A ban of a banned peer restarts its clock.
    pub async fn ban(&self, peer: PeerId, duration: Duration) {
        let _ = self.commands.send(Command::Ban { peer, duration }).await;
    }

    /// Stops the network task: closes listeners and connections. Returns once the swarm is gone
    /// (its ports are free). Idempotent.
    pub async fn shutdown(&self) {
        let _ = self.ask(Command::Shutdown).await;
    }

    /// Snapshot of the counters.
    pub fn stats(&self) -> NetStats {
        self.counters.snapshot()
    }

    fn checked_payload(&self, bytes: Vec<u8>) -> Option<Bytes> {
        if bytes.len() > MAX_FRAME_BYTES {
            tracing::warn!(bytes = bytes.len(), "dropping message over the frame limit");
            Counters::bump(&self.counters.messages_dropped);
            return None;
        }
        Some(Bytes::from(bytes))
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(make(reply)).await.ok()?;
        answer.await.ok()
    }
}

/// Starts the network task. Must be called inside a tokio runtime.
///
/// Fails if the transport cannot be built or a listen address cannot be bound.
pub fn spawn(config: NetConfig) -> Result<(NetHandle, mpsc::Receiver<NetEvent>), NetError> {
    // Checked up front: libp2p's tokio transport would otherwise panic outside a runtime.
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
        NetError::Transport("settlenet_net::spawn must be called inside a tokio runtime".into())
    })?;
    let local_peer_id = config.keypair.public().to_peer_id();
    let request_timeout = config.request_timeout;
    let counters = Arc::new(Counters::default());
    let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE_MAX);
    let (event_tx, events) = mpsc::channel(EVENT_QUEUE_MAX);
    let task = task::NetTask::new(config, command_rx, event_tx, Arc::clone(&counters))?;
    runtime.spawn(task.run());
    let handle = NetHandle {
        commands,
        local_peer_id,
        request_timeout,
        counters,
    };
    Ok((handle, events))
}

/// The node's network key from its 32-byte ed25519 seed (the key-file format).
pub fn keypair_from_seed(seed: [u8; 32]) -> Result<identity::Keypair, NetError> {
    let mut seed = seed;
    // `ed25519_from_bytes` zeroizes the buffer it is given; that is our local copy.
    identity::Keypair::ed25519_from_bytes(&mut seed)
        .map_err(|error| NetError::InvalidKey(error.to_string()))
}

/// The peer id of a network key given by its ed25519 public key (32 bytes).
pub fn peer_id_from_public_key(public: [u8; 32]) -> Result<PeerId, NetError> {
    let key = identity::ed25519::PublicKey::try_from_bytes(&public)
        .map_err(|e| NetError::Transport(format!("invalid network public key: {e}")))?;
    Ok(identity::PublicKey::from(key).to_peer_id())
}

/// The peer id of the key with this seed (what the genesis lists in the allow-list).
pub fn peer_id_from_seed(seed: [u8; 32]) -> Result<PeerId, NetError> {
    Ok(keypair_from_seed(seed)?.public().to_peer_id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_helpers_are_deterministic_and_distinct() {
        let a1 = peer_id_from_seed([1; 32]).expect("seed");
        let a2 = keypair_from_seed([1; 32])
            .expect("seed")
            .public()
            .to_peer_id();
        let b = peer_id_from_seed([2; 32]).expect("seed");
        assert_eq!(a1, a2);
        assert_ne!(a1, b);
        let public = keypair_from_seed([1; 32])
            .expect("seed")
            .public()
            .try_into_ed25519()
            .expect("ed25519")
            .to_bytes();
        assert_eq!(peer_id_from_public_key(public).expect("public key"), a1);
    }
}

//! Load limits of the HTTP API: a request rate per client (token bucket per IP address, IPv6
//! by /64, with `governor`), and a bounded pool for signature checks of batch submissions.
//! Over a limit the API answers at once with 429 and `Retry-After`, so a flood is refused
//! instead of queued; 503 stays for a real outage (the node cannot take work at all).

use super::ApiError;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Most clients (IP addresses) whose rate is tracked at once; idle ones are forgotten every
/// [`CLIENTS_SWEEP`]. Past it, unknown clients share one bucket with every other newcomer.
pub const CLIENTS_MAX: usize = 65_536;
/// How often idle clients are forgotten.
pub const CLIENTS_SWEEP: Duration = Duration::from_secs(10);
/// Batch signature checks waiting for a verifier, per verifier thread; more are refused (429).
pub const VERIFY_QUEUE_PER_THREAD: usize = 4;

/// Proof reads (`GET /v1/transactions/{id}/proof`: one block's records from the archive) on
/// blocking threads at once; more are refused (429 `busy`).
pub const PROOF_READS_MAX: usize = 4;

/// The API's load limits, shared by every request.
pub struct Limits {
    /// Proof reads running.
    proof_reads: Arc<Semaphore>,
    clients: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// The bucket of clients beyond [`CLIENTS_MAX`].
    newcomers: Option<DefaultKeyedRateLimiter<()>>,
    /// Batch verifications running (one per thread of the pool).
    verifiers: Arc<Semaphore>,
    /// Batch verifications running or waiting.
    verify_queue: Arc<Semaphore>,
}

impl Limits {
    /// `per_second` requests per client (bursts of `burst`; `0`: no rate limit), and
    /// `verify_threads` batch verifications at once.
    pub fn new(per_second: u32, burst: u32, verify_threads: usize) -> Limits {
        let quota = NonZeroU32::new(per_second).map(|rate| {
            Quota::per_second(rate).allow_burst(NonZeroU32::new(burst).unwrap_or(rate))
        });
        let verify_threads = verify_threads.max(1);
        Limits {
            proof_reads: Arc::new(Semaphore::new(PROOF_READS_MAX)),
            clients: quota.map(RateLimiter::keyed),
            newcomers: quota.map(RateLimiter::keyed),
            verifiers: Arc::new(Semaphore::new(verify_threads)),
            verify_queue: Arc::new(Semaphore::new(
                verify_threads * (1 + VERIFY_QUEUE_PER_THREAD),
            )),
        }
    }

    /// Forget idle clients (call every [`CLIENTS_SWEEP`]).
    pub fn sweep(&self) {
        if let Some(c) = &self.clients {
            c.retain_recent();
            c.shrink_to_fit();
        }
    }

    /// Clients tracked now.
    pub fn clients_tracked(&self) -> usize {
        self.clients.as_ref().map_or(0, |c| c.len())
    }

    /// Whether `ip` may make a request now; if not, after how long.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let Some(clients) = &self.clients else {
            return Ok(());
        };
        let key = client_key(ip);
        let clock = DefaultClock::default();
        let result = if clients.len() >= CLIENTS_MAX {
            // Known clients keep their own bucket; new ones share one.
            match self.newcomers.as_ref() {
                Some(n) => n.check_key(&()),
                None => Ok(()),
            }
        } else {
            clients.check_key(&key)
        };
        result.map_err(|not_until| not_until.wait_time_from(clock.now()))
    }

    /// A slot to read a proof's records in, or 429 `busy` at once if [`PROOF_READS_MAX`] are
    /// running.
    pub fn proof_read(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.proof_reads
            .clone()
            .try_acquire_owned()
            .map_err(|_| too_many("busy", "this node is reading other proofs; retry shortly"))
    }

    /// A slot to verify a batch's signatures in: waits for a verifier while the queue has
    /// room; refused at once (429) when it has none.
    pub async fn verifier(&self) -> Result<(OwnedSemaphorePermit, OwnedSemaphorePermit), ApiError> {
        let queued = self.verify_queue.clone().try_acquire_owned().map_err(|_| {
            too_many(
                "busy",
                "every signature verifier of this node is busy with other batches; retry shortly",
            )
        })?;
        let running = self.verifiers.clone().acquire_owned().await.map_err(|_| {
            ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the node is shutting down".into(),
            )
        })?;
        Ok((queued, running))
    }
}

/// The rate-limit key of a client: its address, or its /64 for IPv6 (one host holds a whole
/// /64, so per-address buckets would be free for it to multiply).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// 429 with a machine code and message (`Retry-After` is added by [`ApiError`]).
pub(super) fn too_many(code: &'static str, message: &str) -> ApiError {
    ApiError(StatusCode::TOO_MANY_REQUESTS, code, message.to_string())
}

/// Middleware: refuse a client over its rate with 429 and `Retry-After` (whole seconds,
/// at least 1) before any work is done for it.
pub async fn rate_limit(
    State(limits): State<Arc<Limits>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    match limits.check(addr.ip()) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            let mut response = too_many(
                "rate_limited",
                &format!(
                    "client {} is over this node's request rate; retry in {} ms",
                    addr.ip(),
                    wait.as_millis()
                ),
            )
            .into_response();
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            if let Ok(v) = secs.max(1).to_string().parse() {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, v);
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proof_reads_past_the_bound_are_refused_at_once_and_a_freed_slot_is_reused() {
        let limits = Limits::new(0, 0, 1);
        let held: Vec<_> = (0..PROOF_READS_MAX)
            .map(|_| limits.proof_read().ok())
            .collect();
        assert!(held.iter().all(Option::is_some), "a slot was refused");
        let Err(refused) = limits.proof_read() else {
            panic!("a fifth proof read was admitted while {PROOF_READS_MAX} run");
        };
        assert_eq!(
            (refused.0, refused.1),
            (StatusCode::TOO_MANY_REQUESTS, "busy")
        );
        drop(held);
        assert!(limits.proof_read().is_ok());
    }

    #[test]
    fn a_client_over_its_rate_is_refused_with_a_wait_and_others_are_not() {
        let limits = Limits::new(10, 20, 1);
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        for _ in 0..20 {
            assert!(limits.check(a).is_ok());
        }
        let wait = limits.check(a).expect_err("over the burst");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        assert!(limits.check(b).is_ok(), "another client has its own bucket");
        // One IPv6 host owns a /64: every address in it shares one bucket.
        let v6 = |last: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 3, 4, 5, last));
        for i in 0..20 {
            assert!(limits.check(v6(i)).is_ok());
        }
        assert!(limits.check(v6(999)).is_err());
        assert_eq!(limits.clients_tracked(), 3);
        assert!(Limits::new(0, 0, 1).check(a).is_ok(), "0: no rate limit");
    }

    #[tokio::test]
    async fn batch_verifiers_are_bounded_and_the_excess_refused_at_once() {
        let limits = Limits::new(0, 0, 1);
        let mut held = Vec::new();
        match limits.verifier().await {
            Ok(permits) => held.push(permits),
            Err(e) => panic!("the one verifier: {}", e.2),
        }
        // The queue has room for VERIFY_QUEUE_PER_THREAD waiting ones: they would wait.
        let queue = limits.verify_queue.available_permits();
        assert_eq!(queue, VERIFY_QUEUE_PER_THREAD);
        let mut waiting = Vec::new();
        for _ in 0..queue {
            waiting.push(
                limits
                    .verify_queue
                    .clone()
                    .try_acquire_owned()
                    .expect("queue"),
            );
        }
        match limits.verifier().await {
            Ok(_) => panic!("no room was left"),
            Err(refused) => assert_eq!(refused.0, StatusCode::TOO_MANY_REQUESTS),
        }
        drop(waiting);
        drop(held);
        assert!(limits.verifier().await.is_ok());
    }
}

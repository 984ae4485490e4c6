//! A typed client for the node's HTTP API (cargo feature `client`): every answer is read into
//! the type of this crate the node built it from. Used by the `settlenet` CLI, the local
//! process-cluster runner (`settlenet-localnet`) and the end-to-end tests.

use crate as wire;
use serde::de::DeserializeOwned;
use serde::Serialize;
use settlenet_types::{AccountId, BatchId, Currency, Genesis, PublicKey, SignedTransaction, TxId};
use std::time::Duration;

/// What a request through [`Client`] can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The HTTP client could not be built (TLS or resolver set-up).
    #[error("building the HTTP client")]
    Build(#[source] reqwest::Error),
    /// The request did not get an answer (connection refused, timeout).
    #[error("cannot reach {url}")]
    Unreachable {
        /// The URL asked.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The answer's body could not be read to its end.
    #[error("{path}: reading the response from {base}")]
    Read {
        /// The endpoint.
        path: String,
        /// The node's base URL.
        base: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The node answered with a body that is not the endpoint's type.
    #[error("{path}: {base} answered {status} with an unexpected body ({error}): {body}")]
    UnexpectedBody {
        /// The endpoint.
        path: String,
        /// The node's base URL.
        base: String,
        /// The HTTP status.
        status: u16,
        /// The parser's complaint.
        error: serde_json::Error,
        /// The start of the body (200 characters at most).
        body: String,
    },
    /// A GET answered with a status other than 2xx.
    #[error("{url}: {status}: {message}")]
    Status {
        /// The URL asked.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The node's message.
        message: String,
    },
    /// The node refused a submission (`what` names it: a transaction, a batch, a phone number).
    #[error("{what} refused ({status}): {message}")]
    Refused {
        /// What was submitted.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The node's message.
        message: String,
    },
    /// A transaction was not committed or rejected in time.
    #[error("transaction {id} not final after {timeout:?}")]
    NotFinal {
        /// The transaction.
        id: TxId,
        /// How long [`Client::wait_tx`] waited.
        timeout: Duration,
    },
    /// `GET /v1/genesis` did not give a genesis.
    #[error("the node's genesis does not parse")]
    Genesis(#[source] Box<ClientError>),
    /// An event stream broke the reader's bounds (a line or event too long).
    #[error("{url}: {source}")]
    StreamTooLong {
        /// The stream's URL.
        url: String,
        /// The bound broken.
        #[source]
        source: wire::events::SseTooLong,
    },
    /// An event stream sent an event that is not its type.
    #[error("{url}: a {event:?} event that does not parse ({error}): {data}")]
    StreamEvent {
        /// The stream's URL.
        url: String,
        /// The SSE event name.
        event: String,
        /// The parser's complaint.
        error: serde_json::Error,
        /// The start of its data (200 characters at most).
        data: String,
    },
    /// The node ended an event stream with an error (e.g. `below_base`: the blocks it was
    /// reading were replaced by a state snapshot).
    #[error("{url}: the stream ended with {error}")]
    StreamEnded {
        /// The stream's URL.
        url: String,
        /// The node's error.
        error: wire::ErrorDetail,
    },
    /// An event stream could not be (re)opened within its retry limit.
    #[error("{url}: {attempts} attempts to open the event stream failed; the last: {last}")]
    StreamRetries {
        /// The stream's URL.
        url: String,
        /// Consecutive failed attempts.
        attempts: u32,
        /// The last failure.
        last: String,
    },
}

/// The result of a request through [`Client`].
pub type Result<T> = std::result::Result<T, ClientError>;

/// How often [`Client::wait_tx`] polls.
const WAIT_POLL: Duration = Duration::from_millis(20);

/// Client for one node.
#[derive(Clone)]
pub struct Client {
    /// The node's base URL, without a trailing slash.
    base: String,
    /// Pooled connections to it.
    http: reqwest::Client,
}

/// An answer that is not 2xx: its status and error body (or the raw text if it has none).
#[derive(Debug)]
pub struct Refusal {
    /// The HTTP status.
    pub status: u16,
    /// The node's message.
    pub message: String,
}

impl Refusal {
    /// The refusal as an error, `what` naming what was refused.
    fn into_error(self, what: impl Into<String>) -> ClientError {
        ClientError::Refused {
            what: what.into(),
            status: self.status,
            message: self.message,
        }
    }
}

impl Client {
    /// A client for the node at `base` (e.g. "http://127.0.0.1:26700"); a request that gets
    /// no answer within 30 s fails.
    pub fn new(base: &str) -> Result<Client> {
        Client::with_timeout(base, Duration::from_secs(30))
    }

    /// A client whose requests fail after `timeout` without an answer (a frozen node's
    /// sockets stay open but answer nothing).
    pub fn with_timeout(base: &str, timeout: Duration) -> Result<Client> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(16)
            .build()
            .map_err(ClientError::Build)?;
        Ok(Client {
            base: base.trim_end_matches('/').to_string(),
            http,
        })
    }

    /// The node's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// GET a path and return the body's bytes exactly as sent, with the status (not judged).
    pub async fn get_raw(&self, path: &str) -> Result<(u16, Vec<u8>)> {
        let url = format!("{}{path}", self.base);
        self.send(path, &url, self.http.get(&url)).await
    }

    /// POST JSON; returns the status and the body's bytes (not judged).
    async fn post_raw(&self, path: &str, body: &impl Serialize) -> Result<(u16, Vec<u8>)> {
        let url = format!("{}{path}", self.base);
        self.send(path, &url, self.http.post(&url).json(body)).await
    }

    /// Send a request; the status and the body's bytes, or which node could not be reached or
    /// read.
    async fn send(
        &self,
        path: &str,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, Vec<u8>)> {
        let resp = request
            .send()
            .await
            .map_err(|source| ClientError::Unreachable {
                url: url.to_string(),
                source,
            })?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|source| ClientError::Read {
            path: path.to_string(),
            base: self.base.clone(),
            source,
        })?;
        Ok((status, bytes.to_vec()))
    }

    /// Parse a body as `T`, naming the endpoint on failure.
    fn parse<T: DeserializeOwned>(&self, path: &str, status: u16, bytes: &[u8]) -> Result<T> {
        serde_json::from_slice(bytes).map_err(|error| ClientError::UnexpectedBody {
            path: path.to_string(),
            base: self.base.clone(),
            status,
            error,
            body: String::from_utf8_lossy(bytes).chars().take(200).collect(),
        })
    }

    /// GET that maps 404 to `None`; any other non-2xx is an error carrying the node's message.
    pub async fn get_opt<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>> {
        let (status, bytes) = self.get_raw(path).await?;
        if status == 404 {
            return Ok(None);
        }
        if !(200..300).contains(&status) {
            return Err(ClientError::Status {
                url: format!("{}{path}", self.base),
                status,
                message: error_text(&bytes),
            });
        }
        self.parse(path, status, &bytes).map(Some)
    }

    /// GET; non-2xx (404 included) is an error carrying the node's message.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.get_opt(path)
            .await?
            .ok_or_else(|| ClientError::Status {
                url: format!("{}{path}", self.base),
                status: 404,
                message: "not found".to_string(),
            })
    }

    /// POST JSON and read a `T` on 2xx, else the [`Refusal`].
    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<std::result::Result<T, Refusal>> {
        let (status, bytes) = self.post_raw(path, body).await?;
        if !(200..300).contains(&status) {
            return Ok(Err(Refusal {
                status,
                message: error_text(&bytes),
            }));
        }
        self.parse(path, status, &bytes).map(Ok)
    }

    /// `GET /v1/status`.
    pub async fn status(&self) -> Result<wire::Status> {
        self.get("/v1/status").await
    }

    /// `GET /v1/genesis`: the network's genesis as this node has it.
    pub async fn genesis(&self) -> Result<Genesis> {
        self.get("/v1/genesis")
            .await
            .map_err(|e| ClientError::Genesis(Box::new(e)))
    }

    /// `GET /v1/blocks/{height}`, or the latest block for `None`.
    pub async fn block(&self, height: Option<u64>) -> Result<wire::Block> {
        match height {
            Some(h) => self.get(&format!("/v1/blocks/{h}")).await,
            None => self.get("/v1/blocks/latest").await,
        }
    }

    /// `GET /v1/blocks/{height}/txids`.
    pub async fn block_txids(&self, height: u64) -> Result<Option<wire::BlockTxIds>> {
        self.get_opt(&format!("/v1/blocks/{height}/txids")).await
    }

    /// `GET /v1/transactions/{id}` (`None`: neither pending nor committed on this node).
    pub async fn tx(&self, id: TxId) -> Result<Option<wire::TxView>> {
        self.get_opt(&format!("/v1/transactions/{id}")).await
    }

    /// A node that is busy (429: mempool full, its verifiers busy, this client over its rate)
    /// is asked again after a pause, up to this many times, with the same transaction ids
    /// (idempotent: nothing is submitted twice).
    pub const BUSY_RETRIES: u32 = 20;

    /// `post`, asking again while the node answers 429 (see [`Client::BUSY_RETRIES`]).
    async fn post_patient<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<std::result::Result<T, Refusal>> {
        let mut tries = 0;
        loop {
            match self.post(path, body).await? {
                Err(r) if r.status == 429 && tries < Self::BUSY_RETRIES => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(250 * u64::from(tries.min(8)))).await;
                }
                other => return Ok(other),
            }
        }
    }

    /// Submit one transaction; returns the node's answer, or an error with its message if the
    /// node refused it.
    pub async fn submit(&self, tx: &SignedTransaction) -> Result<wire::TxView> {
        match self.post_patient("/v1/transactions", tx).await? {
            Ok(v) => Ok(v),
            Err(r) => Err(r.into_error(format!("transaction {}", tx.tx.id))),
        }
    }

    /// Submit a batch; returns one result per transaction.
    pub async fn submit_batch(&self, txs: &[SignedTransaction]) -> Result<wire::BatchSubmitted> {
        match self.post_patient("/v1/transactions/batch", &txs).await? {
            Ok(v) => Ok(v),
            Err(r) => Err(r.into_error("batch")),
        }
    }

    /// Poll a transaction until it is committed or rejected (or `timeout` passes).
    pub async fn wait_tx(&self, id: TxId, timeout: Duration) -> Result<wire::TxView> {
        let start = std::time::Instant::now();
        loop {
            if let Some(v) = self.tx(id).await? {
                if v.status.is_final() {
                    return Ok(v);
                }
            }
            if start.elapsed() > timeout {
                return Err(ClientError::NotFinal { id, timeout });
            }
            tokio::time::sleep(WAIT_POLL).await;
        }
    }

    /// `GET /v1/accounts/{id}` (`None`: no such account).
    pub async fn account(&self, id: AccountId) -> Result<Option<wire::AccountView>> {
        self.get_opt(&format!("/v1/accounts/{id}")).await
    }

    /// `GET /v1/charges/{id}` (`None`: no such charge request).
    pub async fn charge(&self, id: settlenet_types::ChargeId) -> Result<Option<wire::ChargeView>> {
        self.get_opt(&format!("/v1/charges/{id}")).await
    }

    /// `GET /v1/accounts?owner=KEY[&currency=C]`.
    pub async fn accounts_by_owner(
        &self,
        owner: PublicKey,
        currency: Option<Currency>,
    ) -> Result<wire::OwnedAccounts> {
        let mut path = format!("/v1/accounts?owner={owner}");
        if let Some(c) = currency {
            path.push_str(&format!("&currency={c}"));
        }
        self.get(&path).await
    }

    /// `GET /v1/accounts/{id}/history` (`None`: no such account). `cursor` must be hex.
    pub async fn history(
        &self,
        id: AccountId,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Option<wire::History>> {
        let mut path = format!("/v1/accounts/{id}/history?limit={limit}");
        if let Some(c) = cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        self.get_opt(&path).await
    }

    /// `GET /v1/accounts/{id}/proof` (`None`: no such account).
    pub async fn proof(&self, id: AccountId) -> Result<Option<wire::ProofFile>> {
        self.get_opt(&format!("/v1/accounts/{id}/proof")).await
    }

    /// `GET /v1/transactions/{id}/proof` (`None`: no record of it).
    pub async fn tx_proof(&self, id: TxId) -> Result<Option<wire::TxProofFile>> {
        self.get_opt(&format!("/v1/transactions/{id}/proof")).await
    }

    /// `GET /v1/positions[?window=W]`.
    pub async fn positions(&self, window: Option<u64>) -> Result<wire::Positions> {
        match window {
            Some(w) => self.get(&format!("/v1/positions?window={w}")).await,
            None => self.get("/v1/positions").await,
        }
    }

    /// `POST /v1/phone/alias`: the alias of a phone number, computed by the node with the
    /// consortium key (the number is not repeated in errors).
    /// `currency` defaults to the genesis's first.
    pub async fn alias(&self, phone: &str, currency: Option<Currency>) -> Result<wire::Alias> {
        let body = wire::AliasRequest {
            phone: phone.to_string(),
            currency: currency.map(|c| c.to_string()),
        };
        match self.post("/v1/phone/alias", &body).await? {
            Ok(v) => Ok(v),
            Err(r) => Err(r.into_error("phone number")),
        }
    }

    /// `GET /v1/settlement/windows?currency=C&limit=L[&start=S]`.
    pub async fn windows(
        &self,
        currency: Currency,
        start: Option<u64>,
        limit: u32,
    ) -> Result<wire::Windows> {
        let mut path = format!("/v1/settlement/windows?currency={currency}&limit={limit}");
        if let Some(s) = start {
            path.push_str(&format!("&start={s}"));
        }
        self.get(&path).await
    }

    /// `GET /v1/settlement/windows/{currency}/{window}` (`None`: no such window).
    pub async fn window(&self, currency: Currency, window: u64) -> Result<Option<wire::Window>> {
        self.get_opt(&format!("/v1/settlement/windows/{currency}/{window}"))
            .await
    }

    /// `GET /v1/settlement/batches/{id}` (`None`: no such batch).
    pub async fn batch(&self, id: BatchId) -> Result<Option<wire::Batch>> {
        self.get_opt(&format!("/v1/settlement/batches/{id}")).await
    }

    /// `GET /v1/settlement/batches/{id}/receipt`: the receipt's bytes as the node sent them
    /// (they are written to a file unchanged), or the node's refusal.
    pub async fn receipt(&self, id: BatchId) -> Result<std::result::Result<Vec<u8>, Refusal>> {
        let (status, bytes) = self
            .get_raw(&format!("/v1/settlement/batches/{id}/receipt"))
            .await?;
        if !(200..300).contains(&status) {
            return Ok(Err(Refusal {
                status,
                message: error_text(&bytes),
            }));
        }
        Ok(Ok(bytes))
    }

    /// `GET /v1/events`: the ledger's events from the position `request` names, as an
    /// [`EventStream`] that reconnects by itself and resumes after the last event it returned.
    pub fn events(&self, request: EventsRequest) -> Result<EventStream> {
        EventStream::new(&self.base, request)
    }

    /// `GET /v1/observers`: the active observer nodes, by peer id.
    pub async fn observers(&self) -> Result<Vec<wire::ObserverView>> {
        self.get("/v1/observers").await
    }

    /// `GET /v1/settlement/liquidity?currency=C`.
    pub async fn liquidity(&self, currency: Currency) -> Result<wire::Liquidity> {
        self.get(&format!("/v1/settlement/liquidity?currency={currency}"))
            .await
    }
}

/// The message of an error body (`code: message`), or the body's text if it is not one.
pub fn error_text(body: &[u8]) -> String {
    match serde_json::from_slice::<wire::ErrorBody>(body) {
        Ok(e) => e.error.to_string(),
        Err(_) => String::from_utf8_lossy(body).chars().take(200).collect(),
    }
}

/// Where an [`EventStream`] starts and what it keeps.
#[derive(Debug, Clone, Default)]
pub struct EventsRequest {
    /// First block (`from`); `None`: the next block committed (the node's height + 1 when the
    /// stream first connects, kept for a reconnect that comes before any event).
    pub from: Option<u64>,
    /// Only the transactions that changed this account (block events are all sent).
    pub account: Option<AccountId>,
    /// Resume after this event (sent as `Last-Event-ID`; the node prefers it to `from`).
    pub after: Option<wire::EventId>,
}

/// Connecting an event stream: the answer's headers must come within this.
const STREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A stream silent this long (the node sends a keep-alive comment every 15 s) is dead:
/// reconnect.
const STREAM_IDLE_MAX: Duration = Duration::from_secs(45);
/// First wait before reconnecting; doubled after each failed attempt up to
/// [`STREAM_RETRY_DELAY_MAX`], reset by a successful connection.
const STREAM_RETRY_DELAY: Duration = Duration::from_millis(100);
/// Longest wait between two attempts.
const STREAM_RETRY_DELAY_MAX: Duration = Duration::from_secs(5);

/// A `GET /v1/events` stream read as typed events. It reconnects after a dropped connection,
/// a silent one ([`STREAM_IDLE_MAX`]) or a busy node (503), resuming exactly after the last
/// event returned (`Last-Event-ID`), so no event is lost or repeated across reconnects. Other
/// refusals (400, 410) and an `error` event end it with an error.
pub struct EventStream {
    /// A client without a total timeout (a stream is one long answer); idleness is timed here.
    http: reqwest::Client,
    /// The node's base URL.
    base: String,
    /// `{base}/v1/events`.
    url: String,
    /// The request's `from` and `account`.
    request: EventsRequest,
    /// The last event returned (where to resume), or the request's `after`.
    last: Option<wire::EventId>,
    /// The open answer, if connected.
    response: Option<reqwest::Response>,
    /// Bytes read and not yet a whole event.
    parser: wire::events::SseParser,
    /// Consecutive failed attempts allowed before giving up (`None`: forever).
    retry_limit: Option<u32>,
    /// Connections opened after the first (for a caller that reports them).
    reconnects: u64,
    /// A connection was opened once.
    connected_once: bool,
}

impl EventStream {
    fn new(base: &str, request: EventsRequest) -> Result<EventStream> {
        let http = reqwest::Client::builder()
            .connect_timeout(STREAM_CONNECT_TIMEOUT)
            .build()
            .map_err(ClientError::Build)?;
        let base = base.trim_end_matches('/').to_string();
        Ok(EventStream {
            http,
            url: format!("{base}/v1/events"),
            base,
            last: request.after,
            request,
            response: None,
            parser: wire::events::SseParser::new(),
            retry_limit: None,
            reconnects: 0,
            connected_once: false,
        })
    }

    /// Give up after `limit` consecutive failed attempts to (re)open the stream (default:
    /// never give up).
    pub fn retry_limit(mut self, limit: u32) -> EventStream {
        self.retry_limit = Some(limit);
        self
    }

    /// The id of the last event returned: pass it as [`EventsRequest::after`] to resume later.
    pub fn last_id(&self) -> Option<wire::EventId> {
        self.last
    }

    /// How many times the stream was reopened after its first connection.
    pub fn reconnects(&self) -> u64 {
        self.reconnects
    }

    /// The next event, waiting as long as it takes (reconnecting as needed).
    pub async fn next(&mut self) -> Result<wire::StreamEvent> {
        loop {
            if let Some(frame) = self.parser.next_frame() {
                if let Some(event) = self.typed(frame)? {
                    self.last = Some(event.id());
                    return Ok(event);
                }
                continue;
            }
            if self.response.is_none() {
                self.connect().await?;
            }
            let Some(response) = self.response.as_mut() else {
                continue;
            };
            match tokio::time::timeout(STREAM_IDLE_MAX, response.chunk()).await {
                Ok(Ok(Some(bytes))) => {
                    self.parser
                        .push(&bytes)
                        .map_err(|source| ClientError::StreamTooLong {
                            url: self.url.clone(),
                            source,
                        })?;
                }
                // The end of the answer, a broken connection or silence: reconnect.
                Ok(Ok(None)) | Ok(Err(_)) | Err(_) => self.response = None,
            }
        }
    }

    /// A frame as a typed event; `None` for a frame of another kind (skipped, so that a node
    /// may add event kinds).
    fn typed(&self, frame: wire::events::SseFrame) -> Result<Option<wire::StreamEvent>> {
        let bad = |error: serde_json::Error| ClientError::StreamEvent {
            url: self.url.clone(),
            event: frame.event.clone(),
            error,
            data: frame.data.chars().take(200).collect(),
        };
        match frame.event.as_str() {
            wire::events::EVENT_TX => serde_json::from_str(&frame.data)
                .map(|t| Some(wire::StreamEvent::Tx(t)))
                .map_err(bad),
            wire::events::EVENT_BLOCK => serde_json::from_str(&frame.data)
                .map(|b| Some(wire::StreamEvent::Block(b)))
                .map_err(bad),
            wire::events::EVENT_ERROR => {
                let body: wire::ErrorBody = serde_json::from_str(&frame.data).map_err(bad)?;
                Err(ClientError::StreamEnded {
                    url: self.url.clone(),
                    error: body.error,
                })
            }
            _ => Ok(None),
        }
    }

    /// Open the stream after the last event (or at the request's start), retrying transport
    /// failures and 503 with a growing delay.
    async fn connect(&mut self) -> Result<()> {
        let mut delay = STREAM_RETRY_DELAY;
        let mut attempts = 0u32;
        loop {
            let Some(failure) = self.try_connect().await? else {
                return Ok(());
            };
            attempts += 1;
            if self.retry_limit.is_some_and(|limit| attempts >= limit) {
                return Err(ClientError::StreamRetries {
                    url: self.url.clone(),
                    attempts,
                    last: failure,
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(STREAM_RETRY_DELAY_MAX);
        }
    }

    /// One attempt: `Ok(None)` connected, `Ok(Some(why))` a failure worth retrying, `Err` a
    /// refusal that retrying cannot change.
    async fn try_connect(&mut self) -> Result<Option<String>> {
        // "From the next block" must mean the same block after a reconnect that comes before
        // any event: pin it to the node's height + 1 at the first attempt.
        if self.last.is_none() && self.request.from.is_none() {
            let url = format!("{}/v1/status", self.base);
            let answer = tokio::time::timeout(STREAM_CONNECT_TIMEOUT, self.http.get(&url).send());
            let status = match answer.await {
                Ok(Ok(r)) if r.status().is_success() => r.json::<wire::Status>().await.ok(),
                _ => None,
            };
            let Some(status) = status else {
                return Ok(Some(format!("{url}: no status answer")));
            };
            self.request.from = Some(status.height.0.saturating_add(1));
        }
        let mut request = self.http.get(&self.url);
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(from) = self.request.from {
            query.push(("from", from.to_string()));
        }
        if let Some(account) = self.request.account {
            query.push(("account", account.to_string()));
        }
        if !query.is_empty() {
            request = request.query(&query);
        }
        if let Some(last) = self.last {
            request = request.header("Last-Event-ID", last.to_string());
        }
        match tokio::time::timeout(STREAM_CONNECT_TIMEOUT, request.send()).await {
            Ok(Ok(response)) if response.status().is_success() => {
                if self.connected_once {
                    self.reconnects += 1;
                }
                self.connected_once = true;
                self.parser.reset();
                self.response = Some(response);
                Ok(None)
            }
            Ok(Ok(response)) => {
                let status = response.status().as_u16();
                let body = response.bytes().await.unwrap_or_default();
                let message = error_text(&body);
                if status != 503 {
                    return Err(ClientError::Status {
                        url: self.url.clone(),
                        status,
                        message,
                    });
                }
                Ok(Some(format!("{status}: {message}")))
            }
            Ok(Err(e)) => Ok(Some(e.to_string())),
            Err(_) => Ok(Some(format!("no answer within {STREAM_CONNECT_TIMEOUT:?}"))),
        }
    }
}

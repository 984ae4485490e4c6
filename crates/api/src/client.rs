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

    /// Submit one transaction; returns the node's answer, or an error with its message if the
    /// node refused it.
    pub async fn submit(&self, tx: &SignedTransaction) -> Result<wire::TxView> {
        match self.post("/v1/transactions", tx).await? {
            Ok(v) => Ok(v),
            Err(r) => Err(r.into_error(format!("transaction {}", tx.tx.id))),
        }
    }

    /// Submit a batch; returns one result per transaction.
    pub async fn submit_batch(&self, txs: &[SignedTransaction]) -> Result<wire::BatchSubmitted> {
        match self.post("/v1/transactions/batch", &txs).await? {
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

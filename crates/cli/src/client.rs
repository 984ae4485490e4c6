//! A small typed client for the node's HTTP API.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use settlenet_types::{Genesis, SignedTransaction, TxId};
use std::time::Duration;

/// Client for one node.
#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    /// A client for the node at `base` (e.g. "http://127.0.0.1:26700").
    pub fn new(base: &str) -> Result<Client> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(16)
            .build()
            .context("building the HTTP client")?;
        Ok(Client {
            base: base.trim_end_matches('/').to_string(),
            http,
        })
    }

    /// The node's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn decode(&self, what: &str, resp: reqwest::Response) -> Result<(u16, Value)> {
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .with_context(|| format!("{what}: reading the response from {}", self.base))?;
        let value: Value = serde_json::from_str(&text).map_err(|e| {
            anyhow!(
                "{what}: {} answered {status} with non-JSON ({e}): {}",
                self.base,
                text.chars().take(200).collect::<String>()
            )
        })?;
        Ok((status, value))
    }

    /// GET a path; non-2xx (404 included) becomes an error carrying the node's message.
    pub async fn get(&self, path: &str) -> Result<Value> {
        self.get_opt(path)
            .await?
            .ok_or_else(|| anyhow!("{}{path}: 404: not found", self.base))
    }

    /// GET that maps 404 to `None`.
    pub async fn get_opt(&self, path: &str) -> Result<Option<Value>> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let (status, v) = self.decode(path, resp).await?;
        if status == 404 {
            return Ok(None);
        }
        if !(200..300).contains(&status) {
            bail!("{url}: {status}: {}", error_text(&v));
        }
        Ok(Some(v))
    }

    /// GET a path and return the body's bytes exactly as sent, with the status (not judged).
    pub async fn get_raw(&self, path: &str) -> Result<(u16, Vec<u8>)> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .with_context(|| format!("{path}: reading the response from {}", self.base))?;
        Ok((status, bytes.to_vec()))
    }

    /// POST JSON; returns (status, body) without judging the status.
    pub async fn post(&self, path: &str, body: &Value) -> Result<(u16, Value)> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .post(&url)
            .json(body)
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        self.decode(path, resp).await
    }

    /// The node's status.
    pub async fn status(&self) -> Result<Value> {
        self.get("/v1/status").await
    }

    /// The network's genesis as this node has it.
    pub async fn genesis(&self) -> Result<Genesis> {
        let v = self.get("/v1/genesis").await?;
        serde_json::from_value(v).context("the node's genesis does not parse")
    }

    /// Submit one transaction; returns the node's JSON answer or an error with its message.
    pub async fn submit(&self, tx: &SignedTransaction) -> Result<Value> {
        let (status, v) = self
            .post("/v1/transactions", &serde_json::to_value(tx)?)
            .await?;
        if !(200..300).contains(&status) {
            bail!(
                "transaction {} refused ({status}): {}",
                tx.tx.id,
                error_text(&v)
            );
        }
        Ok(v)
    }

    /// Submit a batch; returns the node's JSON answer.
    pub async fn submit_batch(&self, txs: &[SignedTransaction]) -> Result<Value> {
        let (status, v) = self
            .post("/v1/transactions/batch", &serde_json::to_value(txs)?)
            .await?;
        if !(200..300).contains(&status) {
            bail!("batch refused ({status}): {}", error_text(&v));
        }
        Ok(v)
    }

    /// Poll a transaction until it is committed or rejected (or `timeout` passes).
    pub async fn wait_tx(&self, id: TxId, timeout: Duration) -> Result<Value> {
        let start = std::time::Instant::now();
        loop {
            if let Some(v) = self.get_opt(&format!("/v1/transactions/{id}")).await? {
                let s = v["status"].as_str().unwrap_or("");
                if s == "committed" || s == "rejected" {
                    return Ok(v);
                }
            }
            if start.elapsed() > timeout {
                bail!("transaction {id} not final after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The message inside a JSON error body.
pub fn error_text(v: &Value) -> String {
    let e = &v["error"];
    match (e["code"].as_str(), e["message"].as_str()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        _ => v.to_string(),
    }
}

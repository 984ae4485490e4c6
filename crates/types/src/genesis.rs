//! The genesis: the consortium's founding document. Every node and every offline verifier starts
//! from it; its hash pins the network's identity.

use crate::codec::{encode, Domain};
use crate::error::TypesError;
use crate::ids::{AccountId, Currency, Hash, MemberId, PublicKey, ReplicaId};
use crate::tx::CHAIN_ID_MAX_LEN;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The genesis format version this code writes and accepts. Version 2 added
/// [`Member::net_debit_caps`]: the canonical encoding (and so the genesis hash) of every genesis
/// changed, so version-1 files are refused rather than silently hashed differently.
pub const GENESIS_VERSION: u16 = 2;

/// Hex digits of the genesis digest that [`Genesis::bind_chain_id`] appends to a network name.
pub const CHAIN_ID_BINDING_HEX: usize = 12;

/// Founding document of a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    /// Format version.
    pub version: u16,
    /// Network name; part of every signed message.
    pub chain_id: String,
    /// Consensus time of height 0 (ms since the epoch); block timestamps start after it.
    pub genesis_time_ms: u64,
    /// Currencies the ledger holds, with their minor-unit exponents.
    pub currencies: Vec<CurrencyInfo>,
    /// Member institutions; `members[i].id == MemberId(i)`.
    pub members: Vec<Member>,
    /// Validators; `validators[i].id == ReplicaId(i)`; n = 3f+1 tolerates f faulty.
    pub validators: Vec<ValidatorInfo>,
    /// Accounts that exist at height 0.
    pub accounts: Vec<GenesisAccount>,
    /// Consensus parameters every validator must share.
    pub consensus: ConsensusParams,
}

/// A currency and its minor-unit exponent (ISO 4217: USD 2, JPY 0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyInfo {
    /// The code.
    pub code: Currency,
    /// Decimal places of the minor unit.
    pub exponent: u8,
}

/// What kind of institution a member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemberKind {
    /// A mobile network operator issuing wallets.
    Operator,
    /// A bank.
    Bank,
    /// The clearing house.
    ClearingHouse,
    /// A payment service provider.
    Psp,
}

impl std::fmt::Display for MemberKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MemberKind::Operator => "operator",
            MemberKind::Bank => "bank",
            MemberKind::ClearingHouse => "clearing-house",
            MemberKind::Psp => "psp",
        })
    }
}

/// What a staff key may sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Opens wallets, issues and redeems e-money.
    Issuer,
    /// Holds merchant accounts.
    Acquirer,
    /// Runs settlement windows and batches.
    Clearing,
    /// Reads everything, writes nothing.
    Auditor,
    /// Votes on membership and limits.
    Governor,
}

/// A member's staff key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffKey {
    /// Label (e.g. "issuer").
    pub name: String,
    /// The key.
    pub public_key: PublicKey,
    /// What it may sign.
    pub roles: Vec<Role>,
}

/// A member institution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Index in the member list.
    pub id: MemberId,
    /// Short unique name ("bank-a").
    pub name: String,
    /// Kind of institution.
    pub kind: MemberKind,
    /// BIC, if any. (Optional when read from JSON, but always written: the genesis hash is
    /// over its canonical encoding, which has no field names, so a skipped field would make two
    /// different genesis documents encode alike.)
    #[serde(default)]
    pub bic: Option<String>,
    /// National clearing code, if any (always written, as `bic`).
    #[serde(default)]
    pub clearing_id: Option<String>,
    /// Staff keys with their roles.
    pub staff: Vec<StaffKey>,
    /// Initial net debit caps, at most one per currency. A currency without a cap is
    /// unlimited until a `SetNetDebitCap` sets one. Optional in JSON and TOML.
    #[serde(default)]
    pub net_debit_caps: Vec<NetDebitCap>,
}

/// A member's net debit cap in one currency: its unsettled net debit (what it owes the others
/// across the windows not yet settled) never exceeds `cap`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetDebitCap {
    /// The currency.
    pub currency: Currency,
    /// The cap in minor units.
    pub cap: crate::ids::Amount,
}

/// A validator node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorInfo {
    /// Index in the validator list.
    pub id: ReplicaId,
    /// Node name ("node0").
    pub name: String,
    /// The member that runs it.
    pub member: MemberId,
    /// The key that signs consensus messages.
    pub public_key: PublicKey,
    /// The libp2p peer id of its network key (base58); only these peers may connect.
    pub peer_id: String,
}

/// Kinds of account that can exist at genesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GenesisAccountKind {
    /// The member's prefunded settlement account at the clearing house.
    Settlement,
    /// The issuer's e-money float: debited when e-money is issued.
    Float,
}

/// An account present at height 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisAccount {
    /// The account id.
    pub id: AccountId,
    /// Its kind.
    pub kind: GenesisAccountKind,
    /// The owning member.
    pub member: MemberId,
    /// Its currency.
    pub currency: Currency,
    /// Opening balance (minor units).
    pub balance: u64,
}

/// Parameters every validator must agree on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsensusParams {
    /// A block is cut when it holds this many transactions...
    pub block_max_txs: u32,
    /// ...or when its oldest transaction has waited this long.
    pub block_delay_ms: u64,
    /// How many heights may be in flight (proposed, not yet committed) at once.
    pub max_in_flight: u64,
    /// A block's encoded size at most (header and transactions), in bytes: a primary cuts a
    /// block before it grows past this, and backups refuse a larger proposal. From
    /// [`BLOCK_MAX_BYTES_MIN`] to [`BLOCK_MAX_BYTES_LIMIT`]; consensus also checks at start
    /// that a VIEW-CHANGE and a NEW-VIEW full of such blocks fit a network message.
    #[serde(default = "default_block_max_bytes")]
    pub block_max_bytes: u64,
}

/// Default [`ConsensusParams::block_max_bytes`] (640 KiB: 2,000 payments, or one settlement
/// chunk of the largest size, and a full window of them inside one VIEW-CHANGE).
pub const BLOCK_MAX_BYTES_DEFAULT: u64 = 640 * 1024;
/// Smallest accepted [`ConsensusParams::block_max_bytes`]: the largest transaction and a header.
pub const BLOCK_MAX_BYTES_MIN: u64 = crate::tx::TX_MAX_BYTES as u64 + 1024;
/// Largest accepted [`ConsensusParams::block_max_bytes`].
pub const BLOCK_MAX_BYTES_LIMIT: u64 = 8 * 1024 * 1024;

fn default_block_max_bytes() -> u64 {
    BLOCK_MAX_BYTES_DEFAULT
}

impl Default for ConsensusParams {
    fn default() -> Self {
        ConsensusParams {
            block_max_txs: 2000,
            block_delay_ms: 20,
            max_in_flight: 4,
            block_max_bytes: BLOCK_MAX_BYTES_DEFAULT,
        }
    }
}

impl Genesis {
    /// The genesis hash: pins the network's identity.
    pub fn hash(&self) -> Result<Hash, TypesError> {
        Ok(Domain::Genesis.hash(&encode("genesis", self)?))
    }

    /// Bind the network name `name` to this genesis: the chain id becomes
    /// `{name}-{12 hex digits}`, the digits being the start of the genesis hash computed with the
    /// chain id set to `name`. Transactions and consensus messages sign the chain id, so two
    /// networks given the same name by different ceremonies never accept each other's
    /// signatures. Call it last: any later change to the genesis unbinds it.
    pub fn bind_chain_id(&mut self, name: &str) -> Result<(), TypesError> {
        if name.is_empty() || name.len() + 1 + CHAIN_ID_BINDING_HEX > CHAIN_ID_MAX_LEN {
            return Err(TypesError::Genesis(format!(
                "network name {name:?} must be 1 to {} characters",
                CHAIN_ID_MAX_LEN - 1 - CHAIN_ID_BINDING_HEX
            )));
        }
        self.chain_id = name.to_string();
        let digest = self.hash()?;
        self.chain_id = format!("{name}-{}", &digest.to_string()[..CHAIN_ID_BINDING_HEX]);
        Ok(())
    }

    /// Whether the chain id is bound to the rest of this genesis ([`Genesis::bind_chain_id`]).
    pub fn chain_id_is_bound(&self) -> bool {
        let Some((name, _)) = self.chain_id.rsplit_once('-') else {
            return false;
        };
        let mut copy = self.clone();
        copy.bind_chain_id(name).is_ok() && copy.chain_id == self.chain_id
    }

    /// Number of validators.
    pub fn n(&self) -> usize {
        self.validators.len()
    }

    /// Faulty validators tolerated: the largest f with 3f+1 <= n.
    pub fn f(&self) -> usize {
        self.n().saturating_sub(1) / 3
    }

    /// Signatures needed for a quorum: any two quorums intersect in at least f+1 validators, so
    /// in at least one honest one. Equals 2f+1 when n = 3f+1.
    pub fn quorum(&self) -> usize {
        quorum(self.n())
    }

    /// Exponent of a currency, if the network holds it.
    pub fn exponent(&self, currency: Currency) -> Option<u8> {
        self.currencies
            .iter()
            .find(|c| c.code == currency)
            .map(|c| c.exponent)
    }

    /// Find a member by name.
    pub fn member_by_name(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }

    /// Check internal consistency; every node runs this before trusting a genesis.
    pub fn validate(&self) -> Result<(), TypesError> {
        let bad = |s: String| Err(TypesError::Genesis(s));
        if self.version != GENESIS_VERSION {
            return bad(format!(
                "version {} is not supported (expected {GENESIS_VERSION})",
                self.version
            ));
        }
        if self.chain_id.is_empty() || self.chain_id.len() > CHAIN_ID_MAX_LEN {
            return bad(format!(
                "chain_id must be 1 to {CHAIN_ID_MAX_LEN} characters"
            ));
        }
        if self.validators.is_empty() {
            return bad("no validators".into());
        }
        if self.currencies.is_empty() {
            return bad("no currencies".into());
        }
        let mut codes = BTreeSet::new();
        for c in &self.currencies {
            if !codes.insert(c.code) {
                return bad(format!("currency {} listed twice", c.code));
            }
            if c.exponent > 8 {
                return bad(format!("currency {} exponent {} > 8", c.code, c.exponent));
            }
        }
        let mut names = BTreeSet::new();
        let mut keys = BTreeSet::new();
        for (i, m) in self.members.iter().enumerate() {
            if m.id.0 as usize != i {
                return bad(format!("member {} has id {}, expected {i}", m.name, m.id));
            }
            if m.name.is_empty() || !names.insert(m.name.clone()) {
                return bad(format!("member name {:?} empty or duplicated", m.name));
            }
            for s in &m.staff {
                if !keys.insert(s.public_key) {
                    return bad(format!("staff key {} used twice", s.public_key));
                }
            }
            let mut capped = BTreeSet::new();
            for c in &m.net_debit_caps {
                if !codes.contains(&c.currency) || !capped.insert(c.currency) {
                    return bad(format!(
                        "member {} has a net debit cap in unknown or repeated currency {}",
                        m.name, c.currency
                    ));
                }
            }
        }
        let mut peers = BTreeSet::new();
        for (i, v) in self.validators.iter().enumerate() {
            if v.id.0 as usize != i {
                return bad(format!(
                    "validator {} has id {}, expected {i}",
                    v.name, v.id
                ));
            }
            if v.member.0 as usize >= self.members.len() {
                return bad(format!(
                    "validator {} names unknown member {}",
                    v.name, v.member
                ));
            }
            if !keys.insert(v.public_key) {
                return bad(format!("validator key {} used twice", v.public_key));
            }
            if !peers.insert(v.peer_id.clone()) {
                return bad(format!("peer id {} used twice", v.peer_id));
            }
        }
        let mut ids = BTreeSet::new();
        for a in &self.accounts {
            if !ids.insert(a.id) {
                return bad(format!("account {} listed twice", a.id));
            }
            if a.member.0 as usize >= self.members.len() {
                return bad(format!(
                    "account {} names unknown member {}",
                    a.id, a.member
                ));
            }
            if !codes.contains(&a.currency) {
                return bad(format!(
                    "account {} has unknown currency {}",
                    a.id, a.currency
                ));
            }
        }
        let mut bics = BTreeSet::new();
        let mut clearing_ids = BTreeSet::new();
        for m in &self.members {
            if let Some(bic) = &m.bic {
                let full = normalize_bic(bic).map_err(|e| {
                    TypesError::Genesis(format!("member {}: bic {bic:?}: {e}", m.name))
                })?;
                if !bics.insert(full) {
                    return bad(format!("member {}: bic {bic} used twice", m.name));
                }
            }
            if let Some(id) = &m.clearing_id {
                if id.is_empty() || id.len() > 35 || !id.chars().all(|c| c.is_ascii_alphanumeric())
                {
                    return bad(format!(
                        "member {}: clearing_id {id:?} must be 1 to 35 letters or digits",
                        m.name
                    ));
                }
                if !clearing_ids.insert(id.clone()) {
                    return bad(format!("member {}: clearing_id {id} used twice", m.name));
                }
            }
        }
        let p = &self.consensus;
        if p.block_max_txs == 0 || p.max_in_flight == 0 {
            return bad("block_max_txs and max_in_flight must be positive".into());
        }
        if !(BLOCK_MAX_BYTES_MIN..=BLOCK_MAX_BYTES_LIMIT).contains(&p.block_max_bytes) {
            return bad(format!(
                "block_max_bytes {} must be {BLOCK_MAX_BYTES_MIN} to {BLOCK_MAX_BYTES_LIMIT}",
                p.block_max_bytes
            ));
        }
        Ok(())
    }
}

impl Genesis {
    /// The member whose BIC is `bic` (an 8-character BIC matches its `XXX` branch), if any.
    pub fn member_by_bic(&self, bic: &str) -> Option<&Member> {
        let want = normalize_bic(bic).ok()?;
        self.members.iter().find(|m| {
            m.bic
                .as_deref()
                .and_then(|b| normalize_bic(b).ok())
                .is_some_and(|b| b == want)
        })
    }

    /// The member whose national clearing code is `id`, if any.
    pub fn member_by_clearing_id(&self, id: &str) -> Option<&Member> {
        self.members
            .iter()
            .find(|m| m.clearing_id.as_deref() == Some(id))
    }
}

/// Check a BIC (ISO 9362: 4 letters institution, 2 letters country, 2 letters or digits
/// location, optional 3 letters or digits branch) and return its 11-character form: an
/// 8-character BIC is its `XXX` (head office) branch. Case is ignored.
pub fn normalize_bic(bic: &str) -> Result<String, String> {
    let b = bic.trim().to_ascii_uppercase();
    if b.len() != 8 && b.len() != 11 {
        return Err(format!("must be 8 or 11 characters, not {}", b.len()));
    }
    let bytes = b.as_bytes();
    if !bytes[..6].iter().all(u8::is_ascii_uppercase) {
        return Err("the first 6 characters (institution, country) must be letters".into());
    }
    if !bytes[6..].iter().all(u8::is_ascii_alphanumeric) {
        return Err("location and branch must be letters or digits".into());
    }
    Ok(if b.len() == 8 { format!("{b}XXX") } else { b })
}

/// Quorum size for `n` validators: `ceil((n + f + 1) / 2)` with `f = (n - 1) / 3`.
pub fn quorum(n: usize) -> usize {
    let f = n.saturating_sub(1) / 3;
    (n + f + 1).div_ceil(2)
}

#[cfg(test)]
mod tests {
    use super::{normalize_bic, quorum};

    #[test]
    fn the_genesis_hash_tells_which_optional_member_field_is_set() {
        use super::{Member, MemberKind};
        use crate::ids::MemberId;
        let m = |bic: Option<&str>, clearing: Option<&str>| Member {
            id: MemberId(0),
            name: "a".into(),
            kind: MemberKind::Bank,
            bic: bic.map(String::from),
            clearing_id: clearing.map(String::from),
            staff: vec![],
            net_debit_caps: vec![],
        };
        let a = crate::encode("member", &m(Some("BANKGB2L"), None)).expect("encode");
        let b = crate::encode("member", &m(None, Some("BANKGB2L"))).expect("encode");
        assert_ne!(a, b);
        let back: Member = crate::decode("member", &a).expect("decode");
        assert_eq!(back, m(Some("BANKGB2L"), None));
    }

    #[test]
    fn a_bound_chain_id_names_its_genesis() {
        use super::{ConsensusParams, CurrencyInfo, Genesis, GENESIS_VERSION};
        let mut g = Genesis {
            version: GENESIS_VERSION,
            chain_id: String::new(),
            genesis_time_ms: 1,
            currencies: vec![CurrencyInfo {
                code: crate::Currency(*b"USD"),
                exponent: 2,
            }],
            members: vec![],
            validators: vec![],
            accounts: vec![],
            consensus: ConsensusParams::default(),
        };
        g.bind_chain_id("settlenet").expect("bind");
        assert!(g.chain_id.starts_with("settlenet-"), "{}", g.chain_id);
        assert_eq!(g.chain_id.len(), "settlenet-".len() + 12);
        assert!(g.chain_id_is_bound());
        // Same name, different founding document: a different chain id.
        let mut other = g.clone();
        other.genesis_time_ms = 2;
        other.bind_chain_id("settlenet").expect("bind");
        assert_ne!(other.chain_id, g.chain_id);
        // Any change after binding unbinds it; a plain name is not bound.
        let mut changed = g.clone();
        changed.genesis_time_ms = 3;
        assert!(!changed.chain_id_is_bound());
        changed.chain_id = "settlenet".into();
        assert!(!changed.chain_id_is_bound());
        assert!(g.clone().bind_chain_id(&"x".repeat(52)).is_err());
        assert!(g.clone().bind_chain_id("").is_err());
    }

    #[test]
    fn bics_normalise_to_eleven_characters() {
        assert_eq!(normalize_bic("BANKGB2L").as_deref(), Ok("BANKGB2LXXX"));
        assert_eq!(normalize_bic("bankgb2lxxx").as_deref(), Ok("BANKGB2LXXX"));
        assert_eq!(normalize_bic("EQBLRWRWXXX").as_deref(), Ok("EQBLRWRWXXX"));
        for bad in [
            "",
            "BANKGB2",
            "BANKGB2LX",
            "B4NKGB2L",
            "BANKGB2L-XX",
            "BANKGB2LXXXX",
        ] {
            assert!(normalize_bic(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quorums_intersect_in_an_honest_validator() {
        for n in 1..=40usize {
            let f = (n - 1) / 3;
            let q = quorum(n);
            // Two quorums overlap in 2q - n >= f + 1 validators.
            assert!(2 * q > n + f, "n={n}");
            // A quorum can be formed without the f faulty ones.
            assert!(q <= n - f, "n={n}");
        }
        assert_eq!(quorum(4), 3);
        assert_eq!(quorum(7), 5);
    }
}

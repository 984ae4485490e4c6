//! Test fixtures (feature `test-util`): a small builder for a [`Genesis`], so that test suites
//! across the workspace describe their network in a few lines instead of each spelling out
//! every field of every member, validator and account.
//!
//! ```
//! use settlenet_ledger::test_util::{GenesisBuilder, MemberSpec};
//! use settlenet_ledger::Ledger;
//! use settlenet_types::{Currency, PublicKey, Role};
//!
//! let usd = Currency(*b"USD");
//! let issuer = PublicKey([7; 32]);
//! let genesis = GenesisBuilder::new("example")
//!     .currency(usd, 2)
//!     .member(MemberSpec::bank("bank-a").staff("issuer", issuer, &[Role::Issuer]))
//!     .member(MemberSpec::bank("bank-b"))
//!     .validators(&[PublicKey([100; 32])])
//!     .settlement("bank-a", usd, 1_000)
//!     .build();
//! let ledger = Ledger::from_genesis(&genesis).expect("a valid genesis");
//! assert_eq!(ledger.members().len(), 2);
//! ```
//!
//! The builder only assembles: it does not validate (a test may want an invalid genesis);
//! `Ledger::from_genesis` and `Genesis::validate` do. Everything comes out in the order it
//! was added: member `i` gets `MemberId(i)`, validator `i` gets `ReplicaId(i)`, and genesis
//! accounts are listed in the order of the calls, so a builder reproduces a hand-written
//! genesis field for field (and so its hash).
//!
//! Defaults: [`GENESIS_VERSION`], genesis time 0, [`ConsensusParams::default`], no currency,
//! member, validator or account.

use settlenet_types::genesis::GENESIS_VERSION;
use settlenet_types::{
    AccountId, Amount, ConsensusParams, Currency, CurrencyInfo, Genesis, GenesisAccount,
    GenesisAccountKind, Member, MemberId, MemberKind, NetDebitCap, PublicKey, ReplicaId, Role,
    StaffKey, ValidatorInfo,
};

/// Builds a [`Genesis`] step by step; see the module docs.
#[derive(Clone, Debug)]
pub struct GenesisBuilder {
    /// The genesis so far.
    genesis: Genesis,
}

impl GenesisBuilder {
    /// An empty genesis for `chain_id`: current version, time 0, default consensus parameters.
    pub fn new(chain_id: &str) -> GenesisBuilder {
        GenesisBuilder {
            genesis: Genesis {
                version: GENESIS_VERSION,
                chain_id: chain_id.to_string(),
                genesis_time_ms: 0,
                currencies: Vec::new(),
                members: Vec::new(),
                validators: Vec::new(),
                accounts: Vec::new(),
                consensus: ConsensusParams::default(),
            },
        }
    }

    /// Consensus time of height 0 (ms since the epoch).
    pub fn genesis_time_ms(mut self, genesis_time_ms: u64) -> GenesisBuilder {
        self.genesis.genesis_time_ms = genesis_time_ms;
        self
    }

    /// Consensus parameters other than the defaults.
    pub fn consensus(mut self, consensus: ConsensusParams) -> GenesisBuilder {
        self.genesis.consensus = consensus;
        self
    }

    /// A currency with its minor-unit exponent (USD 2, JPY 0).
    pub fn currency(mut self, code: Currency, exponent: u8) -> GenesisBuilder {
        self.genesis
            .currencies
            .push(CurrencyInfo { code, exponent });
        self
    }

    /// The next member: its id is the number of members added before it.
    pub fn member(mut self, spec: MemberSpec) -> GenesisBuilder {
        let id = MemberId(u16::try_from(self.genesis.members.len()).unwrap_or(u16::MAX));
        self.genesis.members.push(Member {
            id,
            name: spec.name,
            kind: spec.kind,
            bic: spec.bic,
            clearing_id: spec.clearing_id,
            staff: spec.staff,
            net_debit_caps: spec.net_debit_caps,
        });
        self
    }

    /// Validators with these keys, appended in order: validator `i` (counting those added
    /// before) is `ReplicaId(i)`, named `node{i}` with peer id `peer{i}`, run by member 0.
    pub fn validators(mut self, keys: &[PublicKey]) -> GenesisBuilder {
        for key in keys {
            let i = self.genesis.validators.len();
            self.genesis.validators.push(ValidatorInfo {
                id: ReplicaId(u16::try_from(i).unwrap_or(u16::MAX)),
                name: format!("node{i}"),
                member: MemberId(0),
                public_key: *key,
                peer_id: format!("peer{i}"),
            });
        }
        self
    }

    /// The settlement account of the member named `member` in `currency`, prefunded with
    /// `balance` minor units (its id derived as the ledger requires).
    pub fn settlement(self, member: &str, currency: Currency, balance: u64) -> GenesisBuilder {
        self.account(GenesisAccountKind::Settlement, member, currency, balance)
    }

    /// The float account of the member named `member` in `currency`, with `balance`.
    pub fn float(self, member: &str, currency: Currency, balance: u64) -> GenesisBuilder {
        self.account(GenesisAccountKind::Float, member, currency, balance)
    }

    /// A genesis account of `kind` for the member named `member` (which must have been added:
    /// asserted, a test's mistake), with the derived id the ledger requires.
    pub fn account(
        mut self,
        kind: GenesisAccountKind,
        member: &str,
        currency: Currency,
        balance: u64,
    ) -> GenesisBuilder {
        let id = self
            .genesis
            .members
            .iter()
            .find(|m| m.name == member)
            .map(|m| m.id);
        let Some(id) = id else {
            panic!("genesis account for {member}, which is no member (add the member first)");
        };
        let purpose = match kind {
            GenesisAccountKind::Settlement => "settlement",
            GenesisAccountKind::Float => "float",
        };
        self.genesis.accounts.push(GenesisAccount {
            id: AccountId::derived(purpose, member, currency),
            kind,
            member: id,
            currency,
            balance,
        });
        self
    }

    /// The genesis, as built (not validated).
    pub fn build(self) -> Genesis {
        self.genesis
    }
}

/// One member of a [`GenesisBuilder`] genesis: a bank by default, with no identifiers, no staff
/// and no net debit caps until added.
#[derive(Clone, Debug)]
pub struct MemberSpec {
    /// Its name: derived account ids are computed from it.
    name: String,
    /// Kind of institution.
    kind: MemberKind,
    /// BIC, if any.
    bic: Option<String>,
    /// National clearing code, if any.
    clearing_id: Option<String>,
    /// Staff keys and their roles.
    staff: Vec<StaffKey>,
    /// Net debit caps per currency.
    net_debit_caps: Vec<NetDebitCap>,
}

impl MemberSpec {
    /// A bank named `name`.
    pub fn bank(name: &str) -> MemberSpec {
        MemberSpec {
            name: name.to_string(),
            kind: MemberKind::Bank,
            bic: None,
            clearing_id: None,
            staff: Vec::new(),
            net_debit_caps: Vec::new(),
        }
    }

    /// Another kind of institution.
    pub fn kind(mut self, kind: MemberKind) -> MemberSpec {
        self.kind = kind;
        self
    }

    /// Its BIC.
    pub fn bic(mut self, bic: &str) -> MemberSpec {
        self.bic = Some(bic.to_string());
        self
    }

    /// Its national clearing code.
    pub fn clearing_id(mut self, clearing_id: &str) -> MemberSpec {
        self.clearing_id = Some(clearing_id.to_string());
        self
    }

    /// A staff key named `name` holding `roles`.
    pub fn staff(mut self, name: &str, public_key: PublicKey, roles: &[Role]) -> MemberSpec {
        self.staff.push(StaffKey {
            name: name.to_string(),
            public_key,
            roles: roles.to_vec(),
        });
        self
    }

    /// A net debit cap in `currency`.
    pub fn net_debit_cap(mut self, currency: Currency, cap: Amount) -> MemberSpec {
        self.net_debit_caps.push(NetDebitCap { currency, cap });
        self
    }
}

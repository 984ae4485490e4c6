//! Multilateral netting, as a pure function of a window's gross obligations and each member's
//! cover: what `SettleBatch` settles, what it refuses, what an unwind carries forward.
//!
//! Kept apart from the ledger so that it can be tested against an independent computation
//! (`tests/settlement_properties.rs`) and read on its own.

use crate::account::Obligation;
use settlenet_types::{MemberId, SettlementPolicy};
use std::collections::{BTreeMap, BTreeSet};

/// Each member's multilateral net position over `obligations`: credits minus debits (a net
/// debtor is negative). Members with no obligation are absent. The values sum to zero.
pub fn net_positions(obligations: &[Obligation]) -> BTreeMap<MemberId, i128> {
    let mut net: BTreeMap<MemberId, i128> = BTreeMap::new();
    for o in obligations {
        let amount = i128::try_from(o.amount).unwrap_or(i128::MAX);
        let d = net.entry(o.debtor).or_insert(0);
        *d = d.saturating_sub(amount);
        let c = net.entry(o.creditor).or_insert(0);
        *c = c.saturating_add(amount);
    }
    net
}

/// What a settlement does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlementPlan {
    /// The obligations that settle now.
    pub settled: Vec<Obligation>,
    /// The obligations removed by an unwind (carried to the next window).
    pub carried: Vec<Obligation>,
    /// Net positions over `settled`: what each member's settlement account moves.
    pub nets: BTreeMap<MemberId, i128>,
    /// Policy `reject`: the members short in the first round, by id, with their net debit (the
    /// plan is refused if this is not empty). Policy `unwind`: the members removed, in removal
    /// order (by id within a round), with their net debit when removed.
    pub short: Vec<(MemberId, u128)>,
}

impl SettlementPlan {
    /// Whether the plan is refused (policy `reject` and someone short).
    pub fn refused(&self, policy: SettlementPolicy) -> bool {
        policy == SettlementPolicy::Reject && !self.short.is_empty()
    }
}

/// Net `obligations` and check every net debtor's debit against `cover` (its settlement
/// balance, capped by its net debit cap; a member absent from `cover` covers nothing).
///
/// `Reject`: if anyone is short, the plan lists them and settles nothing. `Unwind`: remove
/// every obligation of the short members (as debtor or as creditor), recompute, and repeat
/// until every remaining debtor covers; at most one round per member, since each round removes
/// at least one member.
pub fn plan_settlement(
    obligations: &[Obligation],
    cover: &BTreeMap<MemberId, u128>,
    policy: SettlementPolicy,
) -> SettlementPlan {
    let mut settled: Vec<Obligation> = obligations.to_vec();
    let mut carried = Vec::new();
    let mut short_all = Vec::new();
    loop {
        let nets = net_positions(&settled);
        let short: Vec<(MemberId, u128)> = nets
            .iter()
            .filter(|(_, net)| **net < 0)
            .map(|(m, net)| (*m, net.unsigned_abs()))
            .filter(|(m, debit)| *debit > cover.get(m).copied().unwrap_or(0))
            .collect();
        if short.is_empty() {
            return SettlementPlan {
                settled,
                carried,
                nets,
                short: short_all,
            };
        }
        if policy == SettlementPolicy::Reject {
            return SettlementPlan {
                settled: Vec::new(),
                carried: Vec::new(),
                nets: BTreeMap::new(),
                short,
            };
        }
        let out: BTreeSet<MemberId> = short.iter().map(|(m, _)| *m).collect();
        let (gone, kept): (Vec<Obligation>, Vec<Obligation>) = settled
            .into_iter()
            .partition(|o| out.contains(&o.debtor) || out.contains(&o.creditor));
        carried.extend(gone);
        settled = kept;
        short_all.extend(short);
    }
}

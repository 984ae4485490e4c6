//! The auditor's reference model of the retail rules: a deliberately simple restatement of
//! who may sign what, the order of checks, KYC limits, holds and balances, written without
//! the ledger's code (see `auditor.rs`).

use crate::common::*;
use settlenet_ledger::{position_id, ResultCode, HOLD_TIMEOUT_MS_MAX};
use settlenet_types::{AccountId, Currency, Operation, Payee, PublicKey, Role, Transaction, TxId};
use std::collections::BTreeMap;

pub const DAY: u64 = 86_400_000;
/// (transaction_max, daily_max) per tier, restated here rather than imported.
pub const TIERS: [(i128, i128); 3] = [(10_000, 50_000), (100_000, 500_000), (1_000_000, 5_000_000)];
pub const NAMES: [&str; 2] = ["bank-a", "bank-b"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MAccount {
    pub merchant: bool,
    pub member: u16,
    pub currency: Currency,
    pub owner: PublicKey,
    pub posted: i128,
    pub pending_out: i128,
    pub pending_in: i128,
    pub tier: u8,
    pub alias: u8,
    pub day: u64,
    pub day_out: i128,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum St {
    Pending,
    Captured,
    Voided,
    Expired,
}

#[derive(Debug, Clone)]
pub struct MHold {
    pub from: AccountId,
    pub merchant: AccountId,
    pub amount: i128,
    pub deadline: u64,
    pub status: St,
    pub captured: i128,
    pub refunded: i128,
}

#[derive(Default)]
pub struct Model {
    /// Staff key -> (member, roles).
    pub staff: BTreeMap<PublicKey, (u16, Vec<Role>)>,
    /// Wallets and merchants.
    pub accounts: BTreeMap<AccountId, MAccount>,
    /// Every other account's posted balance (settlement, float, fees, positions), by id.
    pub member_accounts: BTreeMap<AccountId, i128>,
    pub holds: BTreeMap<u8, MHold>,
    pub captures: BTreeMap<TxId, u8>,
    pub records: BTreeMap<TxId, (Transaction, ResultCode)>,
    pub issued: BTreeMap<Currency, i128>,
    pub redeemed: BTreeMap<Currency, i128>,
}

pub type R = Result<(), ResultCode>;

impl Model {
    pub fn staff_ok(&self, member: u16, signer: &PublicKey, role: Role) -> R {
        if usize::from(member) >= NAMES.len() {
            return Err(ResultCode::UnknownMember);
        }
        match self.staff.get(signer) {
            Some((m, roles)) if *m == member => {
                if roles.contains(&role) {
                    Ok(())
                } else {
                    Err(ResultCode::ForbiddenRole)
                }
            }
            _ => Err(ResultCode::ForbiddenSigner),
        }
    }

    pub fn bump(&mut self, id: AccountId, delta: i128) {
        *self.member_accounts.entry(id).or_insert(0) += delta;
    }

    pub fn limits(a: &MAccount, total: i128, now: u64) -> R {
        let (tx_max, day_max) = TIERS[usize::from(a.tier)];
        if total > tx_max {
            return Err(ResultCode::ExceedsTransactionLimit);
        }
        let used = if a.day == now / DAY { a.day_out } else { 0 };
        if used + total > day_max {
            return Err(ResultCode::ExceedsDailyLimit);
        }
        Ok(())
    }

    pub fn spend(&mut self, id: AccountId, total: i128, now: u64) {
        let a = self.accounts.get_mut(&id).expect("payer");
        if a.day != now / DAY {
            a.day = now / DAY;
            a.day_out = 0;
        }
        a.day_out += total;
    }

    /// Move `amount` between two wallet/merchant accounts, with positions across members.
    pub fn transfer(&mut self, from: AccountId, to: AccountId, amount: i128) {
        let (fm, c) = {
            let a = self.accounts.get_mut(&from).expect("from");
            a.posted -= amount;
            (a.member, a.currency)
        };
        let tm = {
            let b = self.accounts.get_mut(&to).expect("to");
            b.posted += amount;
            b.member
        };
        if fm != tm {
            self.bump(position_id(NAMES[usize::from(fm)], c, 0), -amount);
            self.bump(position_id(NAMES[usize::from(tm)], c, 0), amount);
        }
    }

    pub fn expire(&mut self, now: u64) {
        let mut due: Vec<(u64, AccountId, u8)> = self
            .holds
            .iter()
            .filter(|(_, h)| h.status == St::Pending && h.deadline <= now)
            .map(|(n, h)| {
                (
                    h.deadline,
                    settlenet_ledger::hold_account_id(&hold_id(*n)),
                    *n,
                )
            })
            .collect();
        due.sort();
        for (_, _, n) in due {
            let h = self.holds.get_mut(&n).expect("hold");
            h.status = St::Expired;
            let (from, merchant, amount) = (h.from, h.merchant, h.amount);
            self.accounts.get_mut(&from).expect("payer").pending_out -= amount;
            self.accounts
                .get_mut(&merchant)
                .expect("merchant")
                .pending_in -= amount;
        }
        // Closed holds leave the ledger's state: voided and expired ones a day after their
        // deadline, captured ones a day after their refund window (their capture with them).
        let keep = settlenet_ledger::CLOSED_ENTRY_KEEP_MS;
        let window = settlenet_ledger::REFUND_WINDOW_MS;
        let gone: Vec<u8> = self
            .holds
            .iter()
            .filter(|(_, h)| match h.status {
                St::Pending => false,
                St::Captured => h.deadline + window + keep <= now,
                St::Voided | St::Expired => h.deadline + keep <= now,
            })
            .map(|(n, _)| *n)
            .collect();
        for n in gone {
            self.holds.remove(&n);
            self.captures.retain(|_, h| *h != n);
        }
    }

    pub fn merchant_side(&self, merchant: &AccountId, signer: &PublicKey) -> R {
        let m = &self.accounts[merchant];
        if m.owner == *signer {
            return Ok(());
        }
        self.staff_ok(m.member, signer, Role::Acquirer)
    }

    pub fn apply(&mut self, tx: &Transaction, now: u64) -> (ResultCode, bool) {
        if let Some((body, result)) = self.records.get(&tx.id) {
            // The same intent: the body without its validity.
            let same = Transaction {
                valid_until_ms: tx.valid_until_ms,
                ..body.clone()
            };
            return if same == *tx {
                (*result, true)
            } else {
                (ResultCode::ExistsWithDifferentBody, false)
            };
        }
        let result = match self.run(tx, now) {
            Ok(()) => ResultCode::Ok,
            Err(code) => code,
        };
        self.records.insert(tx.id, (tx.clone(), result));
        (result, false)
    }

    pub fn run(&mut self, tx: &Transaction, now: u64) -> R {
        let signer = tx.signer;
        let known = |c: &Currency| *c == usd() || *c == eur();
        match tx.op.clone() {
            Operation::RegisterWallet {
                account,
                issuer,
                alias,
                owner,
                currency,
                tier,
                ..
            } => {
                self.staff_ok(issuer.0, &signer, Role::Issuer)?;
                if !known(&currency) {
                    return Err(ResultCode::UnknownCurrency);
                }
                if usize::from(tier) >= TIERS.len() {
                    return Err(ResultCode::UnknownTier);
                }
                if self.accounts.contains_key(&account) {
                    return Err(ResultCode::AccountExists);
                }
                let alias = alias.0[0];
                if self
                    .accounts
                    .values()
                    .any(|a| !a.merchant && a.alias == alias && a.currency == currency)
                {
                    return Err(ResultCode::AliasExists);
                }
                self.accounts.insert(
                    account,
                    MAccount {
                        merchant: false,
                        member: issuer.0,
                        currency,
                        owner,
                        posted: 0,
                        pending_out: 0,
                        pending_in: 0,
                        tier,
                        alias,
                        day: now / DAY,
                        day_out: 0,
                    },
                );
            }
            Operation::RegisterMerchant {
                account,
                acquirer,
                owner,
                currency,
            } => {
                self.staff_ok(acquirer.0, &signer, Role::Acquirer)?;
                if !known(&currency) {
                    return Err(ResultCode::UnknownCurrency);
                }
                if self.accounts.contains_key(&account)
                    || self.member_accounts.contains_key(&account)
                {
                    return Err(ResultCode::AccountExists);
                }
                self.accounts.insert(
                    account,
                    MAccount {
                        merchant: true,
                        member: acquirer.0,
                        currency,
                        owner,
                        posted: 0,
                        pending_out: 0,
                        pending_in: 0,
                        tier: 0,
                        alias: u8::MAX,
                        day: 0,
                        day_out: 0,
                    },
                );
            }
            Operation::Issue { wallet, amount } | Operation::Redeem { wallet, amount } => {
                let redeem = matches!(tx.op, Operation::Redeem { .. });
                if amount.0 == 0 {
                    return Err(ResultCode::ZeroAmount);
                }
                let Some(w) = self.accounts.get(&wallet) else {
                    return Err(if self.member_accounts.contains_key(&wallet) {
                        ResultCode::NotAWallet
                    } else {
                        ResultCode::AccountNotFound
                    });
                };
                if w.merchant {
                    return Err(ResultCode::NotAWallet);
                }
                self.staff_ok(w.member, &signer, Role::Issuer)?;
                let amount = i128::from(amount.0);
                if redeem && w.posted - w.pending_out < amount {
                    return Err(ResultCode::InsufficientFunds);
                }
                let (member, c) = (w.member, w.currency);
                let sign = if redeem { -1 } else { 1 };
                self.accounts.get_mut(&wallet).expect("wallet").posted += sign * amount;
                self.bump(float(NAMES[usize::from(member)], c), -sign * amount);
                let book = if redeem {
                    &mut self.redeemed
                } else {
                    &mut self.issued
                };
                *book.entry(c).or_default() += amount;
            }
            Operation::Pay {
                from,
                to,
                amount,
                fee,
            } => {
                if amount.0 == 0 || fee.is_some_and(|f| f.0 == 0) {
                    return Err(ResultCode::ZeroAmount);
                }
                if to == Payee::Account(from) {
                    return Err(ResultCode::SameAccount);
                }
                let payer = self.payer(&from, &signer)?;
                let payee = match to {
                    Payee::Account(id) => {
                        if self.member_accounts.contains_key(&id) {
                            return Err(ResultCode::NotAWallet);
                        }
                        self.accounts.get(&id).map(|_| id)
                    }
                    Payee::Alias(a) => self
                        .accounts
                        .iter()
                        .find(|(_, w)| {
                            !w.merchant && w.alias == a.0[0] && w.currency == payer.currency
                        })
                        .map(|(id, _)| *id),
                }
                .ok_or(ResultCode::UnknownPayee)?;
                if payee == from {
                    return Err(ResultCode::SameAccount);
                }
                if self.accounts[&payee].currency != payer.currency {
                    return Err(ResultCode::CurrencyMismatch);
                }
                let (amount, fee) = (i128::from(amount.0), fee.map_or(0, |f| i128::from(f.0)));
                Self::limits(&payer, amount + fee, now)?;
                if payer.posted - payer.pending_out < amount + fee {
                    return Err(ResultCode::InsufficientFunds);
                }
                self.transfer(from, payee, amount);
                if fee > 0 {
                    self.accounts.get_mut(&from).expect("payer").posted -= fee;
                    let fees = AccountId::derived(
                        "fees",
                        NAMES[usize::from(payer.member)],
                        payer.currency,
                    );
                    self.bump(fees, fee);
                }
                self.spend(from, amount + fee, now);
            }
            Operation::Authorize {
                hold,
                from,
                merchant,
                amount,
                timeout_ms,
            } => {
                if amount.0 == 0 {
                    return Err(ResultCode::ZeroAmount);
                }
                if from == merchant {
                    return Err(ResultCode::SameAccount);
                }
                if timeout_ms == 0 || timeout_ms > HOLD_TIMEOUT_MS_MAX {
                    return Err(ResultCode::InvalidTimeout);
                }
                let n = hold.0[1];
                if self.holds.contains_key(&n) {
                    return Err(ResultCode::HoldExists);
                }
                let payer = self.payer(&from, &signer)?;
                let m = self.accounts.get(&merchant).ok_or(
                    if self.member_accounts.contains_key(&merchant) {
                        ResultCode::NotAMerchant
                    } else {
                        ResultCode::AccountNotFound
                    },
                )?;
                if !m.merchant {
                    return Err(ResultCode::NotAMerchant);
                }
                if m.currency != payer.currency {
                    return Err(ResultCode::CurrencyMismatch);
                }
                let amount = i128::from(amount.0);
                Self::limits(&payer, amount, now)?;
                if payer.posted - payer.pending_out < amount {
                    return Err(ResultCode::InsufficientFunds);
                }
                self.accounts.get_mut(&from).expect("payer").pending_out += amount;
                self.accounts
                    .get_mut(&merchant)
                    .expect("merchant")
                    .pending_in += amount;
                self.spend(from, amount, now);
                self.holds.insert(
                    n,
                    MHold {
                        from,
                        merchant,
                        amount,
                        deadline: now.saturating_add(timeout_ms),
                        status: St::Pending,
                        captured: 0,
                        refunded: 0,
                    },
                );
            }
            Operation::Capture { hold, .. } | Operation::Void { hold } => {
                let capture = match tx.op {
                    Operation::Capture { amount, .. } => Some(i128::from(amount.0)),
                    _ => None,
                };
                if capture == Some(0) {
                    return Err(ResultCode::ZeroAmount);
                }
                let n = hold.0[1];
                let h = self.holds.get(&n).ok_or(ResultCode::HoldNotFound)?.clone();
                self.merchant_side(&h.merchant, &signer)?;
                match h.status {
                    St::Captured => return Err(ResultCode::HoldAlreadyCaptured),
                    St::Voided => return Err(ResultCode::HoldAlreadyVoided),
                    St::Expired => return Err(ResultCode::HoldExpired),
                    St::Pending if now >= h.deadline => return Err(ResultCode::HoldExpired),
                    St::Pending => {}
                }
                if capture.is_some_and(|c| c > h.amount) {
                    return Err(ResultCode::CaptureExceedsHold);
                }
                self.accounts.get_mut(&h.from).expect("payer").pending_out -= h.amount;
                self.accounts
                    .get_mut(&h.merchant)
                    .expect("merchant")
                    .pending_in -= h.amount;
                let hm = self.holds.get_mut(&n).expect("hold");
                match capture {
                    Some(c) => {
                        hm.status = St::Captured;
                        hm.captured = c;
                        self.captures.insert(tx.id, n);
                        self.transfer(h.from, h.merchant, c);
                    }
                    None => hm.status = St::Voided,
                }
            }
            Operation::Refund { capture, amount } => {
                if amount.0 == 0 {
                    return Err(ResultCode::ZeroAmount);
                }
                let n = *self
                    .captures
                    .get(&capture)
                    .ok_or(ResultCode::HoldNotFound)?;
                let h = self.holds[&n].clone();
                self.merchant_side(&h.merchant, &signer)?;
                if now >= h.deadline + settlenet_ledger::REFUND_WINDOW_MS {
                    return Err(ResultCode::RefundWindowClosed);
                }
                let amount = i128::from(amount.0);
                if h.refunded + amount > h.captured {
                    return Err(ResultCode::RefundExceedsCapture);
                }
                let m = &self.accounts[&h.merchant];
                if m.posted - m.pending_out < amount {
                    return Err(ResultCode::InsufficientFunds);
                }
                self.transfer(h.merchant, h.from, amount);
                self.holds.get_mut(&n).expect("hold").refunded += amount;
            }
            other => panic!("not generated: {}", other.name()),
        }
        Ok(())
    }

    pub fn payer(&self, from: &AccountId, signer: &PublicKey) -> Result<MAccount, ResultCode> {
        let Some(p) = self.accounts.get(from) else {
            return Err(if self.member_accounts.contains_key(from) {
                ResultCode::NotAWallet
            } else {
                ResultCode::AccountNotFound
            });
        };
        if p.merchant {
            return Err(ResultCode::NotAWallet);
        }
        if p.owner != *signer {
            return Err(ResultCode::ForbiddenSigner);
        }
        Ok(p.clone())
    }
}

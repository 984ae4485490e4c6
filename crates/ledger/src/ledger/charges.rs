//! Charge requests (request-to-pay): a merchant asks a payer for an amount (`CreateCharge`);
//! the payer approves it, which places a hold of exactly that amount (`ApproveCharge`, as
//! `Authorize`), or declines it (`DeclineCharge`, only the payer a request names); the merchant
//! may cancel it while pending (`CancelCharge`). An approved request follows its hold: capture
//! completes it, void voids it, the hold's expiry expires it. A pending request expires at its
//! deadline (swept at the start of a block; until swept it already refuses approval).
//!
//! ```text
//!            approve (hold placed)          capture
//!  pending ───────────────────────▶ approved ───────▶ completed
//!     │ decline / cancel / expiry       │ void / hold expiry
//!     ▼                                 ▼
//!  declined / cancelled / expired    voided / expired
//! ```

use super::staging::{blank, due, Staged};
use super::Ledger;
use crate::account::{
    charge_account_id, hold_account_id, Account, AccountDetail, AccountKind, ChargeDetail,
    ChargeStatus,
};
use crate::limits::{CHARGES_PENDING_PER_MERCHANT_MAX, CHARGE_EXPIRIES_PER_BLOCK_MAX};
use crate::outcome::ResultCode;
use settlenet_types::{AccountId, Amount, ChargeId, ChargePayer, Height, HoldId, PublicKey, TxId};
use std::collections::BTreeSet;

/// The terms of a `CreateCharge`, as signed.
pub(super) struct NewCharge<'a> {
    pub(super) charge: &'a ChargeId,
    pub(super) merchant: &'a AccountId,
    pub(super) amount: Amount,
    pub(super) reference: &'a str,
    pub(super) payer: Option<&'a ChargePayer>,
    pub(super) timeout_ms: u64,
    pub(super) hold_timeout_ms: u64,
}

impl Ledger {
    /// `CreateCharge`: a pending `Charge` entry. Checks, in order: the id is unused, the
    /// merchant exists and is a merchant, the signer acts for it, the payer (if named) is a
    /// wallet in the merchant's currency, the merchant's pending requests are below the limit.
    pub(super) fn create_charge(
        &self,
        staged: &mut Staged,
        height: Height,
        now_ms: u64,
        signer: &PublicKey,
        tx_id: TxId,
        new: &NewCharge<'_>,
    ) -> Result<(), ResultCode> {
        let entry = charge_account_id(new.charge);
        if self.accounts.contains_key(&entry) {
            return Err(ResultCode::ChargeExists);
        }
        let m = self
            .accounts
            .get(new.merchant)
            .ok_or(ResultCode::AccountNotFound)?;
        if m.kind != AccountKind::Merchant {
            return Err(ResultCode::NotAMerchant);
        }
        self.check_merchant_side(m, signer)?;
        let payer = match new.payer {
            None => None,
            Some(p) => {
                let id = match p {
                    ChargePayer::Account(id) => *id,
                    ChargePayer::Alias(alias) => *self
                        .aliases
                        .get(&(*alias, m.currency))
                        .ok_or(ResultCode::UnknownPayee)?,
                };
                let w = self.accounts.get(&id).ok_or(ResultCode::UnknownPayee)?;
                if w.kind != AccountKind::Wallet {
                    return Err(ResultCode::NotAWallet);
                }
                if w.currency != m.currency {
                    return Err(ResultCode::CurrencyMismatch);
                }
                Some(id)
            }
        };
        if self.charges_pending.get(new.merchant).copied().unwrap_or(0)
            >= CHARGES_PENDING_PER_MERCHANT_MAX
        {
            return Err(ResultCode::TooManyCharges);
        }
        let detail = ChargeDetail {
            charge: *new.charge,
            merchant: *new.merchant,
            amount: new.amount,
            reference: new.reference.to_string(),
            payer,
            created_by: *signer,
            expires_at_ms: now_ms.saturating_add(new.timeout_ms),
            hold_timeout_ms: new.hold_timeout_ms,
            status: ChargeStatus::Pending,
            hold: None,
            status_tx: Some(tx_id),
            status_height: height,
            status_ms: now_ms,
            captured: 0,
        };
        staged.insert(
            entry,
            blank(
                entry,
                AccountKind::Charge,
                m.member,
                m.currency,
                None,
                height,
                AccountDetail::Charge(detail),
            ),
        );
        Ok(())
    }

    /// `ApproveCharge`: checks the request (exists, pending, not past its expiry, this payer,
    /// this amount), then places the hold exactly as `Authorize` would (ownership of `from`,
    /// currency, limits, funds) and marks the request approved.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn approve_charge(
        &self,
        staged: &mut Staged,
        height: Height,
        now_ms: u64,
        signer: &PublicKey,
        tx_id: TxId,
        charge: &ChargeId,
        hold: &HoldId,
        from: &AccountId,
        amount: &Amount,
    ) -> Result<(), ResultCode> {
        let entry = charge_account_id(charge);
        let c = self.pending_charge(&entry, now_ms)?;
        if c.payer.is_some_and(|p| p != *from) {
            return Err(ResultCode::WrongPayer);
        }
        if *amount != c.amount {
            return Err(ResultCode::ChargeAmountMismatch);
        }
        self.authorize(
            staged,
            height,
            now_ms,
            signer,
            hold,
            from,
            &c.merchant,
            amount,
            c.hold_timeout_ms,
        )?;
        self.set_charge(staged, &entry, height, now_ms, Some(tx_id), |d| {
            d.status = ChargeStatus::Approved;
            d.hold = Some((*hold, *from));
        })
    }

    /// `DeclineCharge`: only a pending request that names `from` as its payer, by its owner.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn decline_charge(
        &self,
        staged: &mut Staged,
        height: Height,
        now_ms: u64,
        signer: &PublicKey,
        tx_id: TxId,
        charge: &ChargeId,
        from: &AccountId,
    ) -> Result<(), ResultCode> {
        let entry = charge_account_id(charge);
        let c = self.pending_charge(&entry, now_ms)?;
        match c.payer {
            None => return Err(ResultCode::ChargeHasNoPayer),
            Some(p) if p != *from => return Err(ResultCode::WrongPayer),
            Some(_) => {}
        }
        self.payer(from, signer)?;
        self.set_charge(staged, &entry, height, now_ms, Some(tx_id), |d| {
            d.status = ChargeStatus::Declined;
        })
    }

    /// `CancelCharge`: a pending request, by the merchant's side.
    pub(super) fn cancel_charge(
        &self,
        staged: &mut Staged,
        height: Height,
        now_ms: u64,
        signer: &PublicKey,
        tx_id: TxId,
        charge: &ChargeId,
    ) -> Result<(), ResultCode> {
        let entry = charge_account_id(charge);
        let c = self.pending_charge(&entry, now_ms)?;
        let m = self
            .accounts
            .get(&c.merchant)
            .ok_or(ResultCode::AccountNotFound)?;
        self.check_merchant_side(m, signer)?;
        self.set_charge(staged, &entry, height, now_ms, Some(tx_id), |d| {
            d.status = ChargeStatus::Cancelled;
        })
    }

    /// A request that approval, decline or cancellation may act on: it exists, it is pending
    /// and consensus time has not reached its expiry.
    fn pending_charge(&self, entry: &AccountId, now_ms: u64) -> Result<ChargeDetail, ResultCode> {
        let c = match self.accounts.get(entry).map(|a| &a.detail) {
            Some(AccountDetail::Charge(c)) => c,
            _ => return Err(ResultCode::ChargeNotFound),
        };
        match c.status {
            ChargeStatus::Pending if now_ms >= c.expires_at_ms => Err(ResultCode::ChargeExpired),
            ChargeStatus::Pending => Ok(c.clone()),
            ChargeStatus::Approved | ChargeStatus::Completed | ChargeStatus::Voided => {
                Err(ResultCode::ChargeAlreadyApproved)
            }
            ChargeStatus::Declined => Err(ResultCode::ChargeDeclined),
            ChargeStatus::Cancelled => Err(ResultCode::ChargeCancelled),
            ChargeStatus::Expired => Err(ResultCode::ChargeExpired),
        }
    }

    /// Stage a change of a charge entry's detail, stamping who and when.
    #[allow(clippy::too_many_arguments)]
    fn set_charge(
        &self,
        staged: &mut Staged,
        entry: &AccountId,
        height: Height,
        now_ms: u64,
        tx: Option<TxId>,
        change: impl FnOnce(&mut ChargeDetail),
    ) -> Result<(), ResultCode> {
        let e = self.stage(staged, entry)?;
        let AccountDetail::Charge(d) = &mut e.detail else {
            return Err(ResultCode::ChargeNotFound);
        };
        change(d);
        d.status_tx = tx;
        d.status_height = height;
        d.status_ms = now_ms;
        Ok(())
    }

    /// The hold entry `hold_entry` was just captured (`Some(amount)`), voided (`None`, not
    /// expired) or expired (`expired`): move the approved request it belongs to, if any.
    pub(super) fn charge_follows_hold(
        &self,
        staged: &mut Staged,
        hold_entry: &AccountId,
        height: Height,
        now_ms: u64,
        tx: Option<TxId>,
        outcome: HoldOutcome,
    ) -> Result<Option<AccountId>, ResultCode> {
        let Some(entry) = self.charge_holds.get(hold_entry).copied() else {
            return Ok(None);
        };
        self.set_charge(staged, &entry, height, now_ms, tx, |d| match outcome {
            HoldOutcome::Captured(amount) => {
                d.status = ChargeStatus::Completed;
                d.captured = amount;
            }
            HoldOutcome::Voided => d.status = ChargeStatus::Voided,
            HoldOutcome::Expired => d.status = ChargeStatus::Expired,
        })?;
        Ok(Some(entry))
    }

    /// Expire pending requests whose deadline is at or before `now_ms`, earliest first, at most
    /// [`CHARGE_EXPIRIES_PER_BLOCK_MAX`]; each expired entry is added to `expired`.
    pub(super) fn expire_charges(
        &mut self,
        height: Height,
        now_ms: u64,
        changed: &mut BTreeSet<AccountId>,
        expired: &mut Vec<AccountId>,
    ) {
        for id in due(&self.charge_expiries, now_ms, CHARGE_EXPIRIES_PER_BLOCK_MAX) {
            let mut staged = Staged::new();
            let result = self.set_charge(&mut staged, &id, height, now_ms, None, |d| {
                assert_eq!(
                    d.status,
                    ChargeStatus::Pending,
                    "expiring a resolved charge"
                );
                d.status = ChargeStatus::Expired;
            });
            match result.and_then(|()| self.commit(staged, changed)) {
                Ok(()) => expired.push(id),
                Err(code) => panic!("invariant broken: expiring charge entry {id}: {code}"),
            }
        }
    }

    /// The earliest deadline of a pending hold or charge request (consensus time, ms): a block
    /// stamped at or after it expires something. `None` if nothing is pending.
    pub fn next_expiry_ms(&self) -> Option<u64> {
        let hold = self.expiries.first().map(|(t, _)| *t);
        let charge = self.charge_expiries.first().map(|(t, _)| *t);
        match (hold, charge) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The charge request with this id, if any.
    pub fn charge(&self, charge: &ChargeId) -> Option<&Account> {
        self.accounts
            .get(&charge_account_id(charge))
            .filter(|a| a.kind == AccountKind::Charge)
    }

    /// Keep the charge indexes (expiry queue, hold link, pending count) in step with an entry.
    pub(super) fn reindex_charge(&mut self, old: Option<&ChargeDetail>, new: &Account) {
        let AccountDetail::Charge(c) = &new.detail else {
            return;
        };
        if let Some(o) = old {
            if o.status == ChargeStatus::Pending {
                self.charge_expiries.remove(&(o.expires_at_ms, new.id));
                if let Some(n) = self.charges_pending.get_mut(&o.merchant) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.charges_pending.remove(&o.merchant);
                    }
                }
            }
            if let Some((hold, _)) = o.hold {
                self.charge_holds.remove(&hold_account_id(&hold));
            }
        }
        if c.status == ChargeStatus::Pending {
            self.charge_expiries.insert((c.expires_at_ms, new.id));
            *self.charges_pending.entry(c.merchant).or_insert(0) += 1;
        }
        if let (ChargeStatus::Approved, Some((hold, _))) = (c.status, c.hold) {
            self.charge_holds.insert(hold_account_id(&hold), new.id);
        }
    }
}

/// How a hold was resolved, for the request it belongs to.
#[derive(Clone, Copy)]
pub(super) enum HoldOutcome {
    /// Captured, this amount.
    Captured(u128),
    /// Voided by the merchant.
    Voided,
    /// Reached its deadline.
    Expired,
}

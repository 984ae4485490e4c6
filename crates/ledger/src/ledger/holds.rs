//! Merchant payments by hold: `Authorize` puts the amount pending on payer and merchant with
//! a deadline; `Capture` posts all or part, `Void` releases it, the expiry sweep releases it
//! at its deadline; `Refund` pays back up to what was captured. Capture, void and refund are
//! signed by the merchant's key or its acquirer's acquirer-role staff.

use super::charges::HoldOutcome;
use super::staging::{add, blank, due, release, Staged};
use super::Ledger;
use crate::account::{
    hold_account_id, Account, AccountDetail, AccountKind, HoldDetail, HoldStatus,
};
use crate::limits::HOLD_EXPIRIES_PER_BLOCK_MAX;
use crate::outcome::ResultCode;
use settlenet_types::{AccountId, Amount, Height, HoldId, PublicKey, Role, TxId};
use std::collections::BTreeSet;

impl Ledger {
    /// `Authorize`: pending debit on the wallet, pending credit on the merchant, and a `Hold`
    /// entry expiring at `now_ms + timeout_ms`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn authorize(
        &self,
        staged: &mut Staged,
        height: Height,
        now_ms: u64,
        signer: &PublicKey,
        hold: &HoldId,
        from: &AccountId,
        merchant: &AccountId,
        amount: &Amount,
        timeout_ms: u64,
    ) -> Result<(), ResultCode> {
        let entry = hold_account_id(hold);
        if self.accounts.contains_key(&entry) {
            return Err(ResultCode::HoldExists);
        }
        let payer = self.payer(from, signer)?;
        let m = self
            .accounts
            .get(merchant)
            .ok_or(ResultCode::AccountNotFound)?;
        if m.kind != AccountKind::Merchant {
            return Err(ResultCode::NotAMerchant);
        }
        if payer.currency != m.currency {
            return Err(ResultCode::CurrencyMismatch);
        }
        let (member, currency) = (payer.member, payer.currency);
        let amount_u = u128::from(amount.0);
        Self::check_limits(payer, amount_u, now_ms)?;
        if payer.available() < i128::from(amount.0) {
            return Err(ResultCode::InsufficientFunds);
        }
        let p = self.stage(staged, from)?;
        p.debits_pending = add(p.debits_pending, amount_u)?;
        Self::count_outflow(p, amount_u, now_ms);
        let m = self.stage(staged, merchant)?;
        m.credits_pending = add(m.credits_pending, amount_u)?;
        let detail = AccountDetail::Hold(HoldDetail {
            hold: *hold,
            from: *from,
            merchant: *merchant,
            amount: *amount,
            expires_at_ms: now_ms.saturating_add(timeout_ms),
            status: HoldStatus::Pending,
            capture_tx: None,
            captured: 0,
            refunded: 0,
        });
        staged.insert(
            entry,
            blank(
                entry,
                AccountKind::Hold,
                member,
                currency,
                None,
                height,
                detail,
            ),
        );
        Ok(())
    }

    /// `Capture` (`capture` is the amount to post) or `Void` (`capture` is `None`) of a
    /// pending hold, by the transaction `tx_id`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn capture_or_void(
        &self,
        staged: &mut Staged,
        height: Height,
        now_ms: u64,
        signer: &PublicKey,
        tx_id: TxId,
        hold: &HoldId,
        capture: Option<&Amount>,
    ) -> Result<(), ResultCode> {
        let entry = hold_account_id(hold);
        let h = self.pending_hold(&entry, signer, now_ms)?;
        let (status, capture) = match capture {
            Some(amount) => {
                if amount.0 > h.amount.0 {
                    return Err(ResultCode::CaptureExceedsHold);
                }
                (HoldStatus::Captured, Some(u128::from(amount.0)))
            }
            None => (HoldStatus::Voided, None),
        };
        self.release_hold(staged, &entry, status)?;
        let outcome = match capture {
            Some(amount) => HoldOutcome::Captured(amount),
            None => HoldOutcome::Voided,
        };
        self.charge_follows_hold(staged, &entry, height, now_ms, Some(tx_id), outcome)?;
        if let Some(amount) = capture {
            self.post(staged, &h.from, &h.merchant, amount, height)?;
            let e = self.stage(staged, &entry)?;
            if let AccountDetail::Hold(d) = &mut e.detail {
                d.captured = amount;
                d.capture_tx = Some(tx_id);
            }
        }
        Ok(())
    }

    /// `Refund`: merchant -> payer, linked to the `Capture` transaction `capture`; the hold's
    /// refunds never exceed its capture, and come before its refund window closes.
    pub(super) fn refund(
        &self,
        staged: &mut Staged,
        height: Height,
        now_ms: u64,
        signer: &PublicKey,
        capture: &TxId,
        amount: &Amount,
    ) -> Result<(), ResultCode> {
        let entry = *self.captures.get(capture).ok_or(ResultCode::HoldNotFound)?;
        let h = match self.accounts.get(&entry).map(|a| &a.detail) {
            Some(AccountDetail::Hold(h)) => h.clone(),
            _ => return Err(ResultCode::HoldNotFound),
        };
        let m = self
            .accounts
            .get(&h.merchant)
            .ok_or(ResultCode::AccountNotFound)?;
        self.check_merchant_side(m, signer)?;
        if now_ms >= h.expires_at_ms.saturating_add(crate::REFUND_WINDOW_MS) {
            return Err(ResultCode::RefundWindowClosed);
        }
        let amount = u128::from(amount.0);
        if h.refunded.saturating_add(amount) > h.captured {
            return Err(ResultCode::RefundExceedsCapture);
        }
        if m.available() < i128::try_from(amount).unwrap_or(i128::MAX) {
            return Err(ResultCode::InsufficientFunds);
        }
        self.post(staged, &h.merchant, &h.from, amount, height)?;
        let e = self.stage(staged, &entry)?;
        if let AccountDetail::Hold(d) = &mut e.detail {
            d.refunded = add(d.refunded, amount)?;
        }
        Ok(())
    }

    /// A hold that capture or void may resolve: it exists, `signer` acts for the merchant, it
    /// is still pending and not past its deadline.
    fn pending_hold(
        &self,
        entry: &AccountId,
        signer: &PublicKey,
        now_ms: u64,
    ) -> Result<HoldDetail, ResultCode> {
        let h = match self.accounts.get(entry).map(|a| &a.detail) {
            Some(AccountDetail::Hold(h)) => h.clone(),
            _ => return Err(ResultCode::HoldNotFound),
        };
        let m = self
            .accounts
            .get(&h.merchant)
            .ok_or(ResultCode::AccountNotFound)?;
        self.check_merchant_side(m, signer)?;
        match h.status {
            HoldStatus::Captured => Err(ResultCode::HoldAlreadyCaptured),
            HoldStatus::Voided => Err(ResultCode::HoldAlreadyVoided),
            HoldStatus::Expired => Err(ResultCode::HoldExpired),
            HoldStatus::Pending if now_ms >= h.expires_at_ms => Err(ResultCode::HoldExpired),
            HoldStatus::Pending => Ok(h),
        }
    }

    /// Capture, void and refund: the merchant's own key, or an acquirer-role staff key of the
    /// merchant's acquirer.
    pub(super) fn check_merchant_side(
        &self,
        merchant: &Account,
        signer: &PublicKey,
    ) -> Result<(), ResultCode> {
        if merchant.owner == Some(*signer) {
            return Ok(());
        }
        self.check_staff(merchant.member, signer, Role::Acquirer)
    }

    /// Release a pending hold's amount from payer and merchant and mark it `status`.
    fn release_hold(
        &self,
        staged: &mut Staged,
        hold_entry: &AccountId,
        status: HoldStatus,
    ) -> Result<HoldDetail, ResultCode> {
        let entry = self.stage(staged, hold_entry)?;
        let AccountDetail::Hold(h) = &mut entry.detail else {
            return Err(ResultCode::HoldNotFound);
        };
        assert_eq!(h.status, HoldStatus::Pending, "releasing a resolved hold");
        h.status = status;
        let h = h.clone();
        let held = u128::from(h.amount.0);
        let payer = self.stage(staged, &h.from)?;
        payer.debits_pending = release(payer.debits_pending, held, "debits_pending");
        let merchant = self.stage(staged, &h.merchant)?;
        merchant.credits_pending = release(merchant.credits_pending, held, "credits_pending");
        Ok(h)
    }

    /// Expire pending holds whose deadline is at or before `now_ms`, earliest first, at most
    /// [`HOLD_EXPIRIES_PER_BLOCK_MAX`]; each expired hold entry (and the charge request it
    /// belongs to, if any) is added to `expired`. Releasing only lowers pending fields, so it
    /// cannot fail.
    pub(super) fn expire_holds(
        &mut self,
        height: Height,
        now_ms: u64,
        changed: &mut BTreeSet<AccountId>,
        expired: &mut Vec<AccountId>,
    ) {
        for id in due(&self.expiries, now_ms, HOLD_EXPIRIES_PER_BLOCK_MAX) {
            let mut staged = Staged::new();
            let result = self
                .release_hold(&mut staged, &id, HoldStatus::Expired)
                .and_then(|_| {
                    self.charge_follows_hold(
                        &mut staged,
                        &id,
                        height,
                        now_ms,
                        None,
                        HoldOutcome::Expired,
                    )
                });
            match result.and_then(|charge| self.commit(staged, changed).map(|()| charge)) {
                Ok(charge) => {
                    expired.push(id);
                    expired.extend(charge);
                }
                Err(code) => panic!("invariant broken: expiring hold entry {id}: {code}"),
            }
        }
    }
}

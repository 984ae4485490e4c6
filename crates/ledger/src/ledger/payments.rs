//! Transfers and payments (wallet to wallet or merchant, by account or phone alias): the payer
//! checks shared with authorizations, KYC limits and the daily outflow, and the legs.

use super::staging::{add, Staged};
use super::Ledger;
use crate::account::{Account, AccountDetail, AccountKind};
use crate::limits::{DAY_MS, KYC_TIERS};
use crate::outcome::ResultCode;
use settlenet_types::{AccountId, Amount, Height, Payee, PublicKey};

impl Ledger {
    /// The payer checks shared by transfers, payments and authorizations: it exists, is a
    /// wallet and `signer` owns it.
    pub(super) fn payer(
        &self,
        from: &AccountId,
        signer: &PublicKey,
    ) -> Result<&Account, ResultCode> {
        let payer = self.accounts.get(from).ok_or(ResultCode::AccountNotFound)?;
        if payer.kind != AccountKind::Wallet {
            return Err(ResultCode::NotAWallet);
        }
        if payer.owner != Some(*signer) {
            return Err(ResultCode::ForbiddenSigner);
        }
        Ok(payer)
    }

    /// KYC limits of a phone wallet sending `total` at `now_ms`; no limits for other wallets.
    pub(super) fn check_limits(
        payer: &Account,
        total: u128,
        now_ms: u64,
    ) -> Result<(), ResultCode> {
        let AccountDetail::Wallet(w) = &payer.detail else {
            return Ok(());
        };
        let limits = KYC_TIERS
            .get(usize::from(w.tier))
            .ok_or(ResultCode::UnknownTier)?;
        if total > limits.transaction_max {
            return Err(ResultCode::ExceedsTransactionLimit);
        }
        let used = if w.day == now_ms / DAY_MS {
            w.day_outflow
        } else {
            0
        };
        if used.saturating_add(total) > limits.daily_max {
            return Err(ResultCode::ExceedsDailyLimit);
        }
        Ok(())
    }

    /// Count `total` against a staged phone wallet's daily outflow.
    pub(super) fn count_outflow(payer: &mut Account, total: u128, now_ms: u64) {
        if let AccountDetail::Wallet(w) = &mut payer.detail {
            let today = now_ms / DAY_MS;
            if w.day != today {
                w.day = today;
                w.day_outflow = 0;
            }
            w.day_outflow = w.day_outflow.saturating_add(total);
        }
    }

    /// Transfers and payments: payer checks, payee resolution (by account or alias), currency,
    /// limits, funds; then the legs (payment, optional fee to the payer's issuer, positions
    /// across members), staged together.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn pay(
        &self,
        staged: &mut Staged,
        height: Height,
        now_ms: u64,
        signer: &PublicKey,
        from: &AccountId,
        to: &Payee,
        amount: Amount,
        fee: Option<Amount>,
        wallet_only: bool,
    ) -> Result<(), ResultCode> {
        let payer = self.payer(from, signer)?;
        let payee_id = match to {
            Payee::Account(id) => *id,
            Payee::Alias(alias) => *self
                .aliases
                .get(&(*alias, payer.currency))
                .ok_or(ResultCode::UnknownPayee)?,
        };
        let payee = self
            .accounts
            .get(&payee_id)
            .ok_or(ResultCode::UnknownPayee)?;
        match payee.kind {
            AccountKind::Wallet => {}
            AccountKind::Merchant if !wallet_only => {}
            _ => return Err(ResultCode::NotAWallet),
        }
        if payee_id == *from {
            return Err(ResultCode::SameAccount);
        }
        if payer.currency != payee.currency {
            return Err(ResultCode::CurrencyMismatch);
        }
        let (amount, fee) = (u128::from(amount.0), fee.map_or(0, |f| u128::from(f.0)));
        let total = amount + fee; // both below 2^64
        Self::check_limits(payer, total, now_ms)?;
        if payer.available() < i128::try_from(total).unwrap_or(i128::MAX) {
            return Err(ResultCode::InsufficientFunds);
        }
        let (member, currency) = (payer.member, payer.currency);
        self.post(staged, from, &payee_id, amount, height)?;
        if fee > 0 {
            let fees =
                self.stage_member_account(staged, AccountKind::Fees, member, currency, height)?;
            fees.credits_posted = add(fees.credits_posted, fee)?;
            let p = self.stage(staged, from)?;
            p.debits_posted = add(p.debits_posted, fee)?;
        }
        Self::count_outflow(self.stage(staged, from)?, total, now_ms);
        Ok(())
    }
}

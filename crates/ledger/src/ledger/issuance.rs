//! E-money issue and redemption: a wallet against its issuer's float, signed by issuer-role
//! staff of the wallet's issuer.

use super::staging::{add, Staged};
use super::Ledger;
use crate::account::AccountKind;
use crate::outcome::ResultCode;
use settlenet_types::{AccountId, Amount, Height, PublicKey, Role};

impl Ledger {
    /// `Issue` (`issuing`: float -> wallet) and `Redeem` (wallet -> float).
    pub(super) fn issue_or_redeem(
        &self,
        staged: &mut Staged,
        height: Height,
        signer: &PublicKey,
        wallet: &AccountId,
        amount: &Amount,
        issuing: bool,
    ) -> Result<(), ResultCode> {
        let w = self
            .accounts
            .get(wallet)
            .ok_or(ResultCode::AccountNotFound)?;
        if w.kind != AccountKind::Wallet {
            return Err(ResultCode::NotAWallet);
        }
        let (member, currency) = (w.member, w.currency);
        self.check_staff(member, signer, Role::Issuer)?;
        let amount = u128::from(amount.0);
        if !issuing && w.available() < i128::try_from(amount).unwrap_or(i128::MAX) {
            return Err(ResultCode::InsufficientFunds);
        }
        // The float is created on first use if the genesis did not list it; its id is
        // reserved, so no wallet can hold it.
        let float =
            self.stage_member_account(staged, AccountKind::Float, member, currency, height)?;
        if issuing {
            float.debits_posted = add(float.debits_posted, amount)?;
        } else {
            float.credits_posted = add(float.credits_posted, amount)?;
        }
        let w = self.stage(staged, wallet)?;
        if issuing {
            w.credits_posted = add(w.credits_posted, amount)?;
        } else {
            w.debits_posted = add(w.debits_posted, amount)?;
        }
        Ok(())
    }
}

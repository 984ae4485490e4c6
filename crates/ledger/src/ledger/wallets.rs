//! Onboarding: wallets (plain, or phone wallets with an alias and a KYC tier) created by their
//! issuer's staff, and merchant accounts created by their acquirer's staff.

use super::staging::{blank, Staged};
use super::Ledger;
use crate::account::{AccountDetail, AccountKind, WalletDetail};
use crate::limits::{DAY_MS, KYC_TIERS};
use crate::outcome::ResultCode;
use settlenet_types::{AccountId, Currency, Hash, Height, MemberId, PublicKey, Role};

impl Ledger {
    /// `CreateWallet`: a wallet with no alias and no limits, signed by issuer-role staff.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn create_wallet(
        &self,
        staged: &mut Staged,
        height: Height,
        signer: &PublicKey,
        account: &AccountId,
        issuer: &MemberId,
        owner: &PublicKey,
        currency: &Currency,
    ) -> Result<(), ResultCode> {
        self.check_staff(*issuer, signer, Role::Issuer)?;
        self.check_new_account(account, currency)?;
        staged.insert(
            *account,
            blank(
                *account,
                AccountKind::Wallet,
                *issuer,
                *currency,
                Some(*owner),
                height,
                AccountDetail::None,
            ),
        );
        Ok(())
    }

    /// `RegisterWallet`: a phone wallet, one per (alias, currency), with a KYC tier.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn register_wallet(
        &self,
        staged: &mut Staged,
        height: Height,
        now_ms: u64,
        signer: &PublicKey,
        account: &AccountId,
        issuer: &MemberId,
        alias: &Hash,
        alias_key_version: u16,
        owner: &PublicKey,
        currency: &Currency,
        tier: u8,
    ) -> Result<(), ResultCode> {
        self.check_staff(*issuer, signer, Role::Issuer)?;
        if !self.currencies.contains(currency) {
            return Err(ResultCode::UnknownCurrency);
        }
        if usize::from(tier) >= KYC_TIERS.len() {
            return Err(ResultCode::UnknownTier);
        }
        self.check_new_account(account, currency)?;
        if self.aliases.contains_key(&(*alias, *currency)) {
            return Err(ResultCode::AliasExists);
        }
        let detail = AccountDetail::Wallet(WalletDetail {
            alias: *alias,
            alias_key_version,
            tier,
            day: now_ms / DAY_MS,
            day_outflow: 0,
        });
        staged.insert(
            *account,
            blank(
                *account,
                AccountKind::Wallet,
                *issuer,
                *currency,
                Some(*owner),
                height,
                detail,
            ),
        );
        Ok(())
    }

    /// `RegisterMerchant`: a merchant account, signed by acquirer-role staff.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn register_merchant(
        &self,
        staged: &mut Staged,
        height: Height,
        signer: &PublicKey,
        account: &AccountId,
        acquirer: &MemberId,
        owner: &PublicKey,
        currency: &Currency,
    ) -> Result<(), ResultCode> {
        self.check_staff(*acquirer, signer, Role::Acquirer)?;
        self.check_new_account(account, currency)?;
        staged.insert(
            *account,
            blank(
                *account,
                AccountKind::Merchant,
                *acquirer,
                *currency,
                Some(*owner),
                height,
                AccountDetail::None,
            ),
        );
        Ok(())
    }

    /// Checks for creating a client-chosen account: currency known, id unused and not reserved.
    fn check_new_account(
        &self,
        account: &AccountId,
        currency: &Currency,
    ) -> Result<(), ResultCode> {
        if !self.currencies.contains(currency) {
            return Err(ResultCode::UnknownCurrency);
        }
        if self.accounts.contains_key(account)
            || self.reserved_ids.contains(account)
            || self.window_ids.contains(account)
        {
            return Err(ResultCode::AccountExists);
        }
        Ok(())
    }
}

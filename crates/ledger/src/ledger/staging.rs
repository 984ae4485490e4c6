//! Staging: every write of a transaction goes to a [`Staged`] copy of the accounts it touches,
//! committed to the ledger only if every check of the operation passed. The posting legs
//! (`post`, with positions across members), member accounts created on first use, and the
//! derived indexes kept in step on commit.

use super::Ledger;
use crate::account::{
    position_id, window_account_id, Account, AccountDetail, AccountKind, BatchState, HoldStatus,
    Obligation, WindowDetail, WindowState, FIELD_MAX,
};
use crate::outcome::ResultCode;
use settlenet_types::{AccountId, Currency, Height, MemberId, PublicKey};
use std::collections::{BTreeMap, BTreeSet};

/// `value + amount`, refusing results above [`FIELD_MAX`].
pub(super) fn add(value: u128, amount: u128) -> Result<u128, ResultCode> {
    value
        .checked_add(amount)
        .filter(|v| *v <= FIELD_MAX)
        .ok_or(ResultCode::Overflow)
}

/// `value - amount` for releasing pending amounts, which were added before: a shortfall is a
/// broken invariant.
pub(super) fn release(value: u128, amount: u128, what: &str) -> u128 {
    match value.checked_sub(amount) {
        Some(v) => v,
        None => panic!("invariant broken: releasing {amount} from {what} {value}"),
    }
}

/// The entries of an expiry queue (`(deadline, entry)`, earliest first) due at `now_ms`: at
/// most `max`, earliest first.
pub(super) fn due(queue: &BTreeSet<(u64, AccountId)>, now_ms: u64, max: usize) -> Vec<AccountId> {
    queue
        .iter()
        .take_while(|(deadline, _)| *deadline <= now_ms)
        .take(max)
        .map(|(_, id)| *id)
        .collect()
}

/// Accounts a transaction is about to write, copied from the ledger (or new), and the
/// obligations it adds to window records. Nothing reaches the ledger unless every check of the
/// operation passed: see [`Ledger::commit`].
#[derive(Default)]
pub(super) struct Staged {
    /// Staged copies of accounts, by id.
    pub(super) accounts: BTreeMap<AccountId, Account>,
    /// `(currency, window, obligation, height)` to add to the window's matrix on commit, in
    /// place: a window's matrix holds up to members^2 entries, too many to clone per payment.
    pub(super) obligations: Vec<(Currency, u64, Obligation, Height)>,
}

impl Staged {
    pub(super) fn new() -> Staged {
        Staged::default()
    }
}

impl std::ops::Deref for Staged {
    type Target = BTreeMap<AccountId, Account>;
    fn deref(&self) -> &Self::Target {
        &self.accounts
    }
}

impl std::ops::DerefMut for Staged {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.accounts
    }
}

/// A new account with zero balances.
pub(super) fn blank(
    id: AccountId,
    kind: AccountKind,
    member: MemberId,
    currency: Currency,
    owner: Option<PublicKey>,
    height: Height,
    detail: AccountDetail,
) -> Account {
    Account {
        id,
        kind,
        member,
        currency,
        owner,
        debits_pending: 0,
        debits_posted: 0,
        credits_pending: 0,
        credits_posted: 0,
        created_height: height,
        detail,
    }
}

impl Ledger {
    /// The staged copy of an existing account.
    pub(super) fn stage<'s>(
        &self,
        staged: &'s mut Staged,
        id: &AccountId,
    ) -> Result<&'s mut Account, ResultCode> {
        match staged.entry(*id) {
            std::collections::btree_map::Entry::Occupied(e) => Ok(e.into_mut()),
            std::collections::btree_map::Entry::Vacant(e) => {
                let account = self.accounts.get(id).ok_or(ResultCode::AccountNotFound)?;
                Ok(e.insert(account.clone()))
            }
        }
    }

    /// The staged copy of a member account (float, fees, position of the open window), created
    /// with zero balances on first use.
    pub(super) fn stage_member_account<'s>(
        &self,
        staged: &'s mut Staged,
        kind: AccountKind,
        member: MemberId,
        currency: Currency,
        height: Height,
    ) -> Result<&'s mut Account, ResultCode> {
        let name = &self
            .members
            .get(usize::from(member.0))
            .ok_or(ResultCode::UnknownMember)?
            .name;
        let (id, detail) = match kind.derived_purpose() {
            Some(purpose) => (
                AccountId::derived(purpose, name, currency),
                AccountDetail::None,
            ),
            None => {
                let window = self.open_window(currency);
                (
                    position_id(name, currency, window),
                    AccountDetail::Position { window },
                )
            }
        };
        let account = staged
            .entry(id)
            .or_insert_with(|| match self.accounts.get(&id) {
                Some(a) => a.clone(),
                None => blank(id, kind.clone(), member, currency, None, height, detail),
            });
        debug_assert_eq!(account.kind, kind);
        Ok(account)
    }

    /// Post `amount` from `from` to `to` (same currency, checked by the caller). When their
    /// members differ, the same step records the obligation in the open window: the payer's
    /// member's position is debited and the payee's member's position credited.
    pub(super) fn post(
        &self,
        staged: &mut Staged,
        from: &AccountId,
        to: &AccountId,
        amount: u128,
        height: Height,
    ) -> Result<(), ResultCode> {
        let payer = self.stage(staged, from)?;
        payer.debits_posted = add(payer.debits_posted, amount)?;
        let (payer_member, currency) = (payer.member, payer.currency);
        let payee = self.stage(staged, to)?;
        payee.credits_posted = add(payee.credits_posted, amount)?;
        let payee_member = payee.member;
        if payer_member != payee_member {
            let debtor = self.stage_member_account(
                staged,
                AccountKind::Position,
                payer_member,
                currency,
                height,
            )?;
            debtor.debits_posted = add(debtor.debits_posted, amount)?;
            let creditor = self.stage_member_account(
                staged,
                AccountKind::Position,
                payee_member,
                currency,
                height,
            )?;
            creditor.credits_posted = add(creditor.credits_posted, amount)?;
            self.check_cap(staged, payer_member, currency)?;
            staged.obligations.push((
                currency,
                self.open_window(currency),
                Obligation {
                    debtor: payer_member,
                    creditor: payee_member,
                    amount,
                },
                height,
            ));
        }
        Ok(())
    }

    /// Write staged accounts to the ledger, all or none: if any account that must stay at or
    /// above zero would not, nothing is written and the operation fails `insufficient_funds`.
    pub(super) fn commit(
        &mut self,
        staged: Staged,
        changed: &mut BTreeSet<AccountId>,
    ) -> Result<(), ResultCode> {
        if staged
            .values()
            .any(|a| a.kind.must_stay_nonnegative() && a.available() < 0)
        {
            return Err(ResultCode::InsufficientFunds);
        }
        let Staged {
            accounts,
            obligations,
        } = staged;
        for (id, account) in accounts {
            let old = self.accounts.insert(account.clone());
            self.reindex(old.as_ref(), &account);
            changed.insert(id);
        }
        for (currency, window, o, height) in obligations {
            let id = window_account_id(currency, window);
            let create = || {
                // Window 0's record is created by its first obligation; later windows' by
                // the close that opened them.
                blank(
                    id,
                    AccountKind::Window,
                    MemberId(0),
                    currency,
                    None,
                    height,
                    AccountDetail::Window(WindowDetail::opened(window, Height(0))),
                )
            };
            self.accounts
                .modify(id, create, |record| match &mut record.detail {
                    AccountDetail::Window(w) => w.add_obligation(o),
                    other => panic!("invariant broken: window entry {id} holds {other:?}"),
                });
            changed.insert(id);
        }
        Ok(())
    }

    /// Keep the derived indexes (aliases, owners, captures, expiry queues, active observers,
    /// charge links and counts) in step with an account.
    pub(super) fn reindex(&mut self, old: Option<&Account>, new: &Account) {
        if let Some(t) = old.and_then(crate::account::archive_at_ms) {
            self.archive_queue.remove(&(t, new.id));
        }
        if let Some(t) = crate::account::archive_at_ms(new) {
            self.archive_queue.insert((t, new.id));
        }
        if let Some(owner) = new.owner {
            self.owners.insert((owner, new.id));
        }
        if new.kind == AccountKind::Position {
            let before = old.map_or(0, |a| a.balance());
            let net = self
                .unsettled
                .entry((new.member, new.currency))
                .or_insert(0);
            *net = net.saturating_add(new.balance().saturating_sub(before));
        }
        if let AccountDetail::Window(w) = &new.detail {
            if w.state == WindowState::Open {
                self.open_windows.insert(new.currency, w.window);
            }
            let w = w.clone();
            self.reindex_window(new.currency, &w);
        }
        if let AccountDetail::Batch(b) = &new.detail {
            if b.state == BatchState::Staging {
                self.staging.insert(new.currency, b.batch);
            } else if self.staging.get(&new.currency) == Some(&b.batch) {
                self.staging.remove(&new.currency);
            }
        }
        if let AccountDetail::Wallet(w) = &new.detail {
            self.aliases.insert((w.alias, new.currency), new.id);
        }
        if let AccountDetail::Observer(o) = &new.detail {
            if o.is_active() {
                self.observers.insert(o.peer_id.clone(), o.clone());
            } else {
                self.observers.remove(&o.peer_id);
            }
        }
        if let Some(Account {
            detail: AccountDetail::Hold(h),
            ..
        }) = old
        {
            self.expiries
                .remove(&(h.expires_at_ms, old.map_or(new.id, |a| a.id)));
        }
        if new.kind == AccountKind::Charge {
            let old_charge = match old.map(|a| &a.detail) {
                Some(AccountDetail::Charge(c)) => Some(c.clone()),
                _ => None,
            };
            self.reindex_charge(old_charge.as_ref(), new);
        }
        if let AccountDetail::Hold(h) = &new.detail {
            if h.status == HoldStatus::Pending {
                self.expiries.insert((h.expires_at_ms, new.id));
            }
            if let Some(capture) = h.capture_tx {
                self.captures.insert(capture, new.id);
            }
        }
    }
}

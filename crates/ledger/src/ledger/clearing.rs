//! Clearing and settlement: settlement windows per currency (close, reserved ids, the
//! window invariants), settlement liquidity (funding, withdrawal, net debit caps) and the
//! read API the node exposes over them. Batches, which settle a closed window, are in
//! `batches.rs`. Every write goes through the same all-or-nothing `Staged` copy.

use super::staging::{add, blank, Staged};
use super::Ledger;
use crate::account::{
    position_id, window_account_id, Account, AccountDetail, AccountKind, MemberSettlement,
    SettlementDetail, WindowDetail, WindowState,
};
use crate::limits::WINDOWS_RESERVED_AHEAD;
use crate::outcome::ResultCode;
use settlenet_types::{AccountId, Amount, Currency, Height, MemberId, PublicKey, Role};
use std::collections::{BTreeMap, BTreeSet};

/// `u128` to `i128` (amounts are kept at or below `FIELD_MAX = i128::MAX`).
fn signed(v: u128) -> i128 {
    i128::try_from(v).unwrap_or(i128::MAX)
}

impl Ledger {
    // ---------------------------------------------------------------------------------------
    // Authorization and derived state.

    /// Clearing operations: a staff key (of any member) holding the `clearing` role.
    /// `forbidden_signer` if the key is no member's staff, `forbidden_role` if it lacks the role.
    /// Returns the signer's member.
    pub(super) fn check_clearing(&self, signer: &PublicKey) -> Result<MemberId, ResultCode> {
        for m in &self.members {
            if let Some(roles) = m.staff.get(signer) {
                return if roles.contains(&Role::Clearing) {
                    Ok(m.id)
                } else {
                    Err(ResultCode::ForbiddenRole)
                };
            }
        }
        Err(ResultCode::ForbiddenSigner)
    }

    pub(super) fn known_currency(&self, currency: Currency) -> Result<(), ResultCode> {
        if self.currencies.contains(&currency) {
            Ok(())
        } else {
            Err(ResultCode::UnknownCurrency)
        }
    }

    pub(super) fn member_name(&self, member: MemberId) -> Result<&str, ResultCode> {
        self.members
            .get(usize::from(member.0))
            .map(|m| m.name.as_str())
            .ok_or(ResultCode::UnknownMember)
    }

    /// The ids a window owns (its record, every member's position).
    fn window_owned_ids(&self, currency: Currency, window: u64) -> Vec<AccountId> {
        std::iter::once(window_account_id(currency, window))
            .chain(
                self.members
                    .iter()
                    .map(|m| position_id(&m.name, currency, window)),
            )
            .collect()
    }

    /// Recompute the reserved window ids from the window records: every window not settled
    /// (`unsettled`: currency and window of each), and the open one with the next
    /// [`WINDOWS_RESERVED_AHEAD`], per currency.
    pub(super) fn reserve_all_windows(&mut self, unsettled: impl Iterator<Item = (Currency, u64)>) {
        let mut ids = BTreeSet::new();
        for c in self.currencies.clone() {
            let open = self.open_window(c);
            for w in open..=open.saturating_add(WINDOWS_RESERVED_AHEAD) {
                ids.extend(self.window_owned_ids(c, w));
            }
        }
        for (c, w) in unsettled {
            ids.extend(self.window_owned_ids(c, w));
        }
        self.window_ids = ids;
    }

    /// Keep the reserved window ids in step with a window record (from `reindex`): a window
    /// opening reserves the one [`WINDOWS_RESERVED_AHEAD`] later, a window settling releases
    /// its own (nothing touches a settled window's positions again).
    pub(super) fn reindex_window(&mut self, currency: Currency, w: &WindowDetail) {
        match w.state {
            WindowState::Open => {
                let ahead = w.window.saturating_add(WINDOWS_RESERVED_AHEAD);
                for id in self.window_owned_ids(currency, ahead) {
                    self.window_ids.insert(id);
                }
            }
            WindowState::Settled => {
                for id in self.window_owned_ids(currency, w.window) {
                    self.window_ids.remove(&id);
                }
            }
            WindowState::Closed | WindowState::Settling => {}
        }
    }

    /// The net debit cap of `member` in `currency` (`None`: unlimited).
    pub fn net_debit_cap(&self, member: MemberId, currency: Currency) -> Option<Amount> {
        let name = &self.members.get(usize::from(member.0))?.name;
        match &self
            .accounts
            .get(&AccountId::derived("settlement", name, currency))?
            .detail
        {
            AccountDetail::Settlement(d) => Some(d.net_debit_cap),
            _ => None,
        }
    }

    /// The net debit cap check of a payment across members, after its position legs were
    /// staged: the payer member's unsettled net position (all its positions, settled ones
    /// being zero) with this transaction's staged change must not be a debit above its cap.
    pub(super) fn check_cap(
        &self,
        staged: &Staged,
        member: MemberId,
        currency: Currency,
    ) -> Result<(), ResultCode> {
        let Some(cap) = self.net_debit_cap(member, currency) else {
            return Ok(());
        };
        let id = position_id(
            self.member_name(member)?,
            currency,
            self.open_window(currency),
        );
        let committed = self.accounts.get(&id).map_or(0, Account::balance);
        let now = staged.get(&id).map_or(committed, Account::balance);
        let net = self
            .unsettled_net(member, currency)
            .saturating_sub(committed)
            .saturating_add(now);
        if net < 0 && net.unsigned_abs() > u128::from(cap.0) {
            return Err(ResultCode::NetDebitCapExceeded);
        }
        Ok(())
    }

    /// The staged copy of a window's record.
    pub(super) fn stage_window<'s>(
        &self,
        staged: &'s mut Staged,
        currency: Currency,
        window: u64,
        height: Height,
    ) -> &'s mut Account {
        let id = window_account_id(currency, window);
        staged
            .accounts
            .entry(id)
            .or_insert_with(|| match self.accounts.get(&id) {
                Some(a) => a.clone(),
                None => blank(
                    id,
                    AccountKind::Window,
                    MemberId(0),
                    currency,
                    None,
                    height,
                    AccountDetail::Window(WindowDetail::opened(window, Height(0))),
                ),
            })
    }

    /// The staged copy of `member`'s position in a given window, created on first use.
    pub(super) fn stage_position<'s>(
        &self,
        staged: &'s mut Staged,
        member: MemberId,
        currency: Currency,
        window: u64,
        height: Height,
    ) -> Result<&'s mut Account, ResultCode> {
        let id = position_id(self.member_name(member)?, currency, window);
        Ok(staged
            .accounts
            .entry(id)
            .or_insert_with(|| match self.accounts.get(&id) {
                Some(a) => a.clone(),
                None => blank(
                    id,
                    AccountKind::Position,
                    member,
                    currency,
                    None,
                    height,
                    AccountDetail::Position { window },
                ),
            }))
    }

    /// The record of a window that exists (the open one, or one closed before it).
    pub(super) fn window_detail_of(&self, currency: Currency, window: u64) -> Option<WindowDetail> {
        match self
            .accounts
            .get(&window_account_id(currency, window))
            .map(|a| &a.detail)
        {
            Some(AccountDetail::Window(w)) => Some(w.clone()),
            Some(_) => None,
            None if window == self.open_window(currency) => {
                Some(WindowDetail::opened(window, Height(0)))
            }
            None => None,
        }
    }

    // ---------------------------------------------------------------------------------------
    // Operations: windows and liquidity.

    /// `CloseWindow`: the open window becomes `Closed` and `window + 1` opens.
    pub(super) fn close_window(
        &self,
        staged: &mut Staged,
        height: Height,
        signer: &PublicKey,
        currency: Currency,
        window: u64,
    ) -> Result<(), ResultCode> {
        self.check_clearing(signer)?;
        self.known_currency(currency)?;
        if window != self.open_window(currency) {
            return Err(ResultCode::WindowNotOpen);
        }
        let next = window.checked_add(1).ok_or(ResultCode::Overflow)?;
        // Reserved ahead, so only a window beyond the horizon can have been squatted.
        if self
            .window_owned_ids(currency, next)
            .iter()
            .any(|id| self.accounts.contains_key(id))
        {
            return Err(ResultCode::AccountExists);
        }
        let record = self.stage_window(staged, currency, window, height);
        let AccountDetail::Window(w) = &mut record.detail else {
            return Err(ResultCode::AccountExists);
        };
        w.state = WindowState::Closed;
        w.closed_height = Some(height);
        let id = window_account_id(currency, next);
        staged.insert(
            id,
            blank(
                id,
                AccountKind::Window,
                MemberId(0),
                currency,
                None,
                height,
                AccountDetail::Window(WindowDetail::opened(next, height)),
            ),
        );
        Ok(())
    }

    /// `FundSettlement` (`funding`) and `WithdrawSettlement`: the member's settlement account
    /// against its reserve account.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fund(
        &self,
        staged: &mut Staged,
        height: Height,
        signer: &PublicKey,
        member: MemberId,
        currency: Currency,
        amount: Amount,
        funding: bool,
    ) -> Result<(), ResultCode> {
        self.check_clearing(signer)?;
        self.member_name(member)?;
        self.known_currency(currency)?;
        let amount = u128::from(amount.0);
        let s =
            self.stage_member_account(staged, AccountKind::Settlement, member, currency, height)?;
        if funding {
            s.credits_posted = add(s.credits_posted, amount)?;
        } else {
            if s.available() < signed(amount) {
                return Err(ResultCode::InsufficientFunds);
            }
            s.debits_posted = add(s.debits_posted, amount)?;
        }
        let r =
            self.stage_member_account(staged, AccountKind::Reserve, member, currency, height)?;
        if funding {
            r.debits_posted = add(r.debits_posted, amount)?;
        } else {
            r.credits_posted = add(r.credits_posted, amount)?;
        }
        Ok(())
    }

    /// `SetNetDebitCap`: kept in the member's settlement account (created if missing).
    pub(super) fn set_cap(
        &self,
        staged: &mut Staged,
        height: Height,
        signer: &PublicKey,
        member: MemberId,
        currency: Currency,
        cap: Option<Amount>,
    ) -> Result<(), ResultCode> {
        self.check_clearing(signer)?;
        self.member_name(member)?;
        self.known_currency(currency)?;
        let s =
            self.stage_member_account(staged, AccountKind::Settlement, member, currency, height)?;
        s.detail = match cap {
            Some(net_debit_cap) => AccountDetail::Settlement(SettlementDetail { net_debit_cap }),
            None => AccountDetail::None,
        };
        Ok(())
    }

    // ---------------------------------------------------------------------------------------
    // Invariants.

    /// Debug builds in memory mode, after every block, O(accounts): every window's positions sum to zero in
    /// every currency; an unsettled window's positions equal the nets of its matrix; a settled
    /// window's positions are all zero; one open window per currency, the latest.
    #[cfg(debug_assertions)]
    pub(super) fn assert_window_invariants(&self, height: Height) {
        let mut positions: BTreeMap<(Currency, u64), BTreeMap<MemberId, i128>> = BTreeMap::new();
        let Some(all) = self.accounts.all() else {
            return;
        };
        for a in all {
            if let AccountDetail::Position { window } = a.detail {
                positions
                    .entry((a.currency, window))
                    .or_default()
                    .insert(a.member, a.balance());
            }
        }
        for ((c, w), members) in &positions {
            let sum: i128 = members.values().sum();
            assert_eq!(
                sum, 0,
                "invariant broken: positions of window {w} in {c} sum to {sum} after block {height}"
            );
            let record = self.window_detail_of(*c, *w);
            let Some(record) = record else {
                panic!("invariant broken: positions of window {w} in {c} without a record");
            };
            let nets = crate::netting::net_positions(&record.obligations);
            for (m, balance) in members {
                let want = if record.state == WindowState::Settled {
                    0
                } else {
                    nets.get(m).copied().unwrap_or(0)
                };
                assert_eq!(
                    *balance, want,
                    "invariant broken: position of member {m} in window {w} ({c}) after block {height}"
                );
            }
        }
        for c in &self.currencies {
            let open = self.open_window(*c);
            if let Some(w) = self.window_detail_of(*c, open) {
                assert_eq!(w.state, WindowState::Open, "open window of {c}");
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Read API (what the node exposes).

    /// The record of window `window` in `currency`: `None` if it has not opened yet. The open
    /// window 0, before its first obligation, has no entry yet and is shown empty and open.
    pub fn window(&self, currency: Currency, window: u64) -> Option<WindowDetail> {
        self.window_detail_of(currency, window)
    }

    /// Windows of `currency` from `start`, at most `limit`, in order (up to the open one).
    pub fn windows(&self, currency: Currency, start: u64, limit: usize) -> Vec<WindowDetail> {
        let open = self.open_window(currency);
        (start..=open)
            .take(limit)
            .filter_map(|w| self.window_detail_of(currency, w))
            .collect()
    }

    /// A member's settlement account in `currency` (`None` if it never had one).
    pub fn settlement_account(&self, member: MemberId, currency: Currency) -> Option<&Account> {
        let name = &self.members.get(usize::from(member.0))?.name;
        self.accounts
            .get(&AccountId::derived("settlement", name, currency))
    }

    /// A member's reserve (funding) account in `currency` (`None` before its first funding).
    pub fn reserve_account(&self, member: MemberId, currency: Currency) -> Option<&Account> {
        let name = &self.members.get(usize::from(member.0))?.name;
        self.accounts
            .get(&AccountId::derived("reserve", name, currency))
    }

    /// A member's unsettled net position in `currency` over every window not yet settled
    /// (negative: a net debtor). The net debit cap bounds `-unsettled_net`.
    pub fn unsettled_net(&self, member: MemberId, currency: Currency) -> i128 {
        self.unsettled
            .get(&(member, currency))
            .copied()
            .unwrap_or(0)
    }

    /// The per-member report of a window: gross sent, gross received, net, settled and
    /// carried, by member id (only members with obligations). Every column but `sent` and
    /// `received` sums to zero, and those two sums are equal. Before settlement, `settled` and
    /// `carried` are zero. `None` if the window has not opened.
    pub fn window_report(&self, currency: Currency, window: u64) -> Option<Vec<MemberSettlement>> {
        let w = self.window_detail_of(currency, window)?;
        Some(if w.state == WindowState::Settled {
            w.report
        } else {
            w.gross_report()
        })
    }

    /// Sum of position balances per (currency, window) over every window with a position
    /// account, up to the open one: zero everywhere. O(windows x members).
    pub fn all_position_totals(&self) -> BTreeMap<(Currency, u64), i128> {
        let mut totals: BTreeMap<(Currency, u64), i128> = BTreeMap::new();
        for c in &self.currencies {
            for window in crate::limits::FIRST_WINDOW..=self.open_window(*c) {
                for m in &self.members {
                    if let Some(a) = self.accounts.get(&position_id(&m.name, *c, window)) {
                        let t = totals.entry((*c, window)).or_insert(0);
                        *t = t.saturating_add(a.balance());
                    }
                }
            }
        }
        totals
    }
}

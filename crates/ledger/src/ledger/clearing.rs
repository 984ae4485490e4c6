//! Clearing and settlement (issue 5): windows, batches, liquidity and net debit caps, and the
//! read API the node exposes over them. A child module of `ledger` so that it shares the
//! staging machinery; every write goes through the same all-or-nothing `Staged` copy.

use super::{add, blank, Ledger, Staged};
use crate::account::{
    batch_account_id, chunk_account_id, position_id, window_account_id, Account, AccountDetail,
    AccountKind, BatchDetail, BatchState, ChunkDetail, MemberSettlement, Obligation,
    SettlementDetail, Shortfall, WindowDetail, WindowState,
};
use crate::limits::WINDOWS_RESERVED_AHEAD;
use crate::netting::plan_settlement;
use crate::outcome::{RecordDetail, ResultCode};
use settlenet_types::{
    batch_digest, AccountId, Amount, BatchId, Currency, Hash, Height, MemberId, PublicKey, Role,
    SettlementInstruction, SettlementPolicy,
};
use std::collections::{BTreeMap, BTreeSet};

/// The fields of a `SettleBatch` operation.
pub(super) struct SettleRequest {
    pub batch: BatchId,
    pub currency: Currency,
    pub window: u64,
    pub chunks: u32,
    pub instructions: u64,
    pub digest: Hash,
    pub policy: SettlementPolicy,
}

/// A batch as the read API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchStatus {
    /// The batch's currency.
    pub currency: Currency,
    /// The member whose clearing staff key first submitted it.
    pub submitted_by: MemberId,
    /// The height of its first chunk (or of its settlement, if it had none).
    pub created_height: Height,
    /// Window, state, chunks, counts, policy, unwound members.
    pub detail: BatchDetail,
}

/// The record of a batch seen for the first time (by its first chunk, or by a `SettleBatch`
/// with no chunk): staging, nothing staged yet.
fn new_batch_record(
    batch: BatchId,
    currency: Currency,
    window: u64,
    submitter: MemberId,
    height: Height,
) -> Account {
    blank(
        batch_account_id(&batch),
        AccountKind::Batch,
        submitter,
        currency,
        None,
        height,
        AccountDetail::Batch(BatchDetail {
            batch,
            window,
            state: BatchState::Staging,
            chunks: Vec::new(),
            instructions: 0,
            policy: None,
            finished_height: None,
            unwound: Vec::new(),
        }),
    )
}

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
    fn check_clearing(&self, signer: &PublicKey) -> Result<MemberId, ResultCode> {
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

    fn known_currency(&self, currency: Currency) -> Result<(), ResultCode> {
        if self.currencies.contains(&currency) {
            Ok(())
        } else {
            Err(ResultCode::UnknownCurrency)
        }
    }

    fn member_name(&self, member: MemberId) -> Result<&str, ResultCode> {
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

    /// Recompute the reserved window ids from the window records: every window not settled,
    /// and the open one with the next [`WINDOWS_RESERVED_AHEAD`], per currency.
    pub(super) fn reserve_all_windows(&mut self) {
        let mut ids = BTreeSet::new();
        for c in self.currencies.clone() {
            let open = self.open_window(c);
            for w in open..=open.saturating_add(WINDOWS_RESERVED_AHEAD) {
                ids.extend(self.window_owned_ids(c, w));
            }
        }
        let unsettled: Vec<(Currency, u64)> = self
            .accounts
            .values()
            .filter_map(|a| match &a.detail {
                AccountDetail::Window(w) if w.state != WindowState::Settled => {
                    Some((a.currency, w.window))
                }
                _ => None,
            })
            .collect();
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
    fn stage_window<'s>(
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
    fn stage_position<'s>(
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
    fn window_detail_of(&self, currency: Currency, window: u64) -> Option<WindowDetail> {
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

    /// A batch's record, if `batch` names one: `batch_exists` if its entry holds something
    /// else, or it belongs to another currency or window; `batch_finished` if it is settled
    /// or aborted.
    fn staging_batch(
        &self,
        batch: &BatchId,
        currency: Currency,
        window: u64,
    ) -> Result<Option<(Account, BatchDetail)>, ResultCode> {
        let Some(a) = self.accounts.get(&batch_account_id(batch)) else {
            return Ok(None);
        };
        let AccountDetail::Batch(b) = &a.detail else {
            return Err(ResultCode::BatchExists);
        };
        if a.currency != currency || b.window != window {
            return Err(ResultCode::BatchExists);
        }
        if b.state != BatchState::Staging {
            return Err(ResultCode::BatchFinished);
        }
        Ok(Some((a.clone(), b.clone())))
    }

    /// The window a batch may stage for or settle: closed (and no other batch staging in the
    /// currency) or settling with this batch.
    fn settleable_window(
        &self,
        batch: &BatchId,
        currency: Currency,
        window: u64,
    ) -> Result<WindowDetail, ResultCode> {
        if window >= self.open_window(currency) {
            return Err(ResultCode::WindowNotClosed);
        }
        let w = self
            .window_detail_of(currency, window)
            .ok_or(ResultCode::WindowNotClosed)?;
        match w.state {
            WindowState::Open => Err(ResultCode::WindowNotClosed),
            WindowState::Settled => Err(ResultCode::WindowAlreadySettled),
            WindowState::Settling if w.batch != Some(*batch) => {
                Err(ResultCode::SettlementInProgress)
            }
            WindowState::Closed if self.staging.contains_key(&currency) => {
                Err(ResultCode::SettlementInProgress)
            }
            WindowState::Settling | WindowState::Closed => Ok(w),
        }
    }

    // ---------------------------------------------------------------------------------------
    // Operations.

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

    /// `StageBatch`: one chunk of instructions, checked and kept in state; nothing moves.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn stage_batch(
        &self,
        staged: &mut Staged,
        height: Height,
        signer: &PublicKey,
        batch: &BatchId,
        currency: Currency,
        window: u64,
        chunk: u32,
        instructions: &[SettlementInstruction],
    ) -> Result<(), ResultCode> {
        let submitter = self.check_clearing(signer)?;
        self.known_currency(currency)?;
        let existing = self.staging_batch(batch, currency, window)?;
        self.settleable_window(batch, currency, window)?;
        let chunk_id = chunk_account_id(batch, chunk);
        if existing
            .as_ref()
            .is_some_and(|(_, b)| b.chunks.contains(&chunk))
            || self.accounts.contains_key(&chunk_id)
        {
            return Err(ResultCode::ChunkExists);
        }
        for i in instructions {
            self.member_name(i.debtor)?;
            self.member_name(i.creditor)?;
            if let Some(b) = &i.beneficiary {
                let wallet = self
                    .accounts
                    .get(b)
                    .filter(|a| a.kind == AccountKind::Wallet && a.member == i.creditor)
                    .ok_or(ResultCode::InvalidBeneficiary)?;
                if wallet.currency != currency {
                    return Err(ResultCode::CurrencyMismatch);
                }
            }
        }
        // At most SETTLEMENT_CHUNK_MAX (checked statelessly).
        let count = u32::try_from(instructions.len()).map_err(|_| ResultCode::InvalidChunk)?;
        let batch_id = batch_account_id(batch);
        let mut record = match existing {
            Some((a, _)) => a,
            None => new_batch_record(*batch, currency, window, submitter, height),
        };
        if let AccountDetail::Batch(b) = &mut record.detail {
            let at = b.chunks.partition_point(|c| *c < chunk);
            b.chunks.insert(at, chunk);
            b.instructions = b.instructions.saturating_add(u64::from(count));
        }
        staged.insert(batch_id, record);
        staged.insert(
            chunk_id,
            blank(
                chunk_id,
                AccountKind::Chunk,
                submitter,
                currency,
                None,
                height,
                AccountDetail::Chunk(ChunkDetail {
                    batch: *batch,
                    chunk,
                    count,
                    instructions: instructions.to_vec(),
                }),
            ),
        );
        let record = self.stage_window(staged, currency, window, height);
        if let AccountDetail::Window(w) = &mut record.detail {
            w.state = WindowState::Settling;
            w.batch = Some(*batch);
        }
        Ok(())
    }

    /// Empty the staged chunks of a finished batch (the entries stay: see [`ChunkDetail`]).
    fn drop_chunks(&self, staged: &mut Staged, batch: &BatchId, chunks: &[u32]) {
        for c in chunks {
            let id = chunk_account_id(batch, *c);
            if let Some(a) = self.accounts.get(&id) {
                let mut a = a.clone();
                if let AccountDetail::Chunk(d) = &mut a.detail {
                    d.instructions = Vec::new();
                }
                staged.insert(id, a);
            }
        }
    }

    /// `SettleBatch`: net the window's obligations with the batch's instructions and move
    /// every settlement account in one step (or, with policy `reject`, none).
    pub(super) fn settle_batch(
        &self,
        staged: &mut Staged,
        height: Height,
        signer: &PublicKey,
        req: &SettleRequest,
        detail: &mut Option<RecordDetail>,
    ) -> Result<(), ResultCode> {
        let submitter = self.check_clearing(signer)?;
        let currency = req.currency;
        self.known_currency(currency)?;
        let existing = self.staging_batch(&req.batch, currency, req.window)?;
        let mut w = self.settleable_window(&req.batch, currency, req.window)?;
        // Exactly chunks 0..n staged, and the count and digest the client computed.
        let (chunks, count) = existing
            .as_ref()
            .map_or((Vec::new(), 0), |(_, b)| (b.chunks.clone(), b.instructions));
        if !chunks.iter().copied().eq(0..req.chunks) || count != req.instructions {
            return Err(ResultCode::BatchIncomplete);
        }
        let mut instructions: Vec<&SettlementInstruction> = Vec::new();
        for c in &chunks {
            match self
                .accounts
                .get(&chunk_account_id(&req.batch, *c))
                .map(|a| &a.detail)
            {
                Some(AccountDetail::Chunk(d)) => instructions.extend(d.instructions.iter()),
                _ => return Err(ResultCode::BatchIncomplete),
            }
        }
        let digest = batch_digest(
            &req.batch,
            currency,
            req.window,
            instructions.iter().copied(),
        )
        .map_err(|_| ResultCode::DigestMismatch)?;
        if digest != req.digest {
            return Err(ResultCode::DigestMismatch);
        }

        // 1. The instructions become obligations of the window (matrix and positions); a
        //    beneficiary is credited against its member's float.
        for i in &instructions {
            let amount = u128::from(i.amount.0);
            w.add_obligation(Obligation {
                debtor: i.debtor,
                creditor: i.creditor,
                amount,
            });
            let d = self.stage_position(staged, i.debtor, currency, req.window, height)?;
            d.debits_posted = add(d.debits_posted, amount)?;
            let c = self.stage_position(staged, i.creditor, currency, req.window, height)?;
            c.credits_posted = add(c.credits_posted, amount)?;
            if let Some(b) = &i.beneficiary {
                let float = self.stage_member_account(
                    staged,
                    AccountKind::Float,
                    i.creditor,
                    currency,
                    height,
                )?;
                float.debits_posted = add(float.debits_posted, amount)?;
                let wallet = self.stage(staged, b)?;
                wallet.credits_posted = add(wallet.credits_posted, amount)?;
            }
        }
        w.instructions = count;

        // 2. What each member covers: its settlement balance, capped by its net debit cap.
        let mut cover = BTreeMap::new();
        let mut terms = BTreeMap::new();
        for m in &self.members {
            let balance = self
                .accounts
                .get(&AccountId::derived("settlement", &m.name, currency))
                .map_or(0, |a| u128::try_from(a.available()).unwrap_or(0));
            let cap = self.net_debit_cap(m.id, currency);
            cover.insert(m.id, cap.map_or(balance, |c| balance.min(u128::from(c.0))));
            terms.insert(m.id, (balance, cap));
        }
        let plan = plan_settlement(&w.obligations, &cover, req.policy);
        let shortfalls: Vec<Shortfall> = plan
            .short
            .iter()
            .map(|(m, debit)| {
                let (balance, cap) = terms.get(m).copied().unwrap_or((0, None));
                let covers = cover.get(m).copied().unwrap_or(0);
                Shortfall {
                    member: *m,
                    debit: *debit,
                    balance,
                    cap,
                    shortfall: debit.saturating_sub(covers),
                }
            })
            .collect();
        if !shortfalls.is_empty() {
            *detail = Some(RecordDetail::Settlement {
                policy: req.policy,
                window: req.window,
                members: shortfalls.clone(),
            });
        }
        if plan.refused(req.policy) {
            return Err(ResultCode::SettlementShortfall);
        }

        // 3. Carry the unwound obligations to the open window (positions and matrix).
        let open = self.open_window(currency);
        for o in &plan.carried {
            let d = self.stage_position(staged, o.debtor, currency, open, height)?;
            d.debits_posted = add(d.debits_posted, o.amount)?;
            let c = self.stage_position(staged, o.creditor, currency, open, height)?;
            c.credits_posted = add(c.credits_posted, o.amount)?;
            staged.obligations.push((currency, open, *o, height));
        }

        // 4. Settle: every position of the window returns to zero; its counter-legs are the
        //    settlement account (the settled net) and the open window (the carried net).
        let mut report = w.gross_report();
        for row in &mut report {
            let settled = plan.nets.get(&row.member).copied().unwrap_or(0);
            let pos = self.stage_position(staged, row.member, currency, req.window, height)?;
            let balance = pos.balance();
            debug_assert_eq!(balance, row.net, "position and matrix of {}", row.member);
            if balance < 0 {
                pos.credits_posted = add(pos.credits_posted, balance.unsigned_abs())?;
            } else {
                pos.debits_posted = add(pos.debits_posted, balance.unsigned_abs())?;
            }
            if settled != 0 {
                let s = self.stage_member_account(
                    staged,
                    AccountKind::Settlement,
                    row.member,
                    currency,
                    height,
                )?;
                if settled > 0 {
                    s.credits_posted = add(s.credits_posted, settled.unsigned_abs())?;
                } else {
                    s.debits_posted = add(s.debits_posted, settled.unsigned_abs())?;
                }
            }
            row.settled = settled;
            row.carried = balance.saturating_sub(settled);
        }

        // 5. Records: window settled, batch settled, chunks dropped.
        w.state = WindowState::Settled;
        w.settled_height = Some(height);
        w.batch = Some(req.batch);
        w.carried_to = (!plan.carried.is_empty()).then_some(open);
        w.carried = plan.carried.clone();
        w.carried.sort();
        w.unwound = shortfalls;
        w.report = report;
        let unwound: Vec<MemberId> = w.unwound.iter().map(|s| s.member).collect();
        let record = self.stage_window(staged, currency, req.window, height);
        record.detail = AccountDetail::Window(w);
        let batch_id = batch_account_id(&req.batch);
        let mut b = match existing {
            Some((a, _)) => a,
            None => new_batch_record(req.batch, currency, req.window, submitter, height),
        };
        if let AccountDetail::Batch(d) = &mut b.detail {
            d.state = BatchState::Settled;
            d.policy = Some(req.policy);
            d.finished_height = Some(height);
            d.unwound = unwound;
        }
        staged.insert(batch_id, b);
        self.drop_chunks(staged, &req.batch, &chunks);
        Ok(())
    }

    /// `AbortBatch`: discard a staging batch; its window returns to `Closed`.
    pub(super) fn abort_batch(
        &self,
        staged: &mut Staged,
        height: Height,
        signer: &PublicKey,
        batch: &BatchId,
    ) -> Result<(), ResultCode> {
        self.check_clearing(signer)?;
        let id = batch_account_id(batch);
        let a = self.accounts.get(&id).ok_or(ResultCode::UnknownBatch)?;
        let AccountDetail::Batch(b) = &a.detail else {
            return Err(ResultCode::UnknownBatch);
        };
        if b.state != BatchState::Staging {
            return Err(ResultCode::BatchFinished);
        }
        let (currency, window, chunks) = (a.currency, b.window, b.chunks.clone());
        let mut a = a.clone();
        if let AccountDetail::Batch(b) = &mut a.detail {
            b.state = BatchState::Aborted;
            b.finished_height = Some(height);
        }
        staged.insert(id, a);
        self.drop_chunks(staged, batch, &chunks);
        let record = self.stage_window(staged, currency, window, height);
        if let AccountDetail::Window(w) = &mut record.detail {
            if w.batch == Some(*batch) && w.state == WindowState::Settling {
                w.state = WindowState::Closed;
                w.batch = None;
            }
        }
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

    /// Debug builds, after every block, O(accounts): every window's positions sum to zero in
    /// every currency; an unsettled window's positions equal the nets of its matrix; a settled
    /// window's positions are all zero; one open window per currency, the latest.
    #[cfg(debug_assertions)]
    pub(super) fn assert_window_invariants(&self, height: Height) {
        let mut positions: BTreeMap<(Currency, u64), BTreeMap<MemberId, i128>> = BTreeMap::new();
        for a in self.accounts.values() {
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

    /// A batch's status: `None` if no batch has this id.
    pub fn batch(&self, batch: &BatchId) -> Option<BatchStatus> {
        let a = self.accounts.get(&batch_account_id(batch))?;
        match &a.detail {
            AccountDetail::Batch(b) => Some(BatchStatus {
                currency: a.currency,
                submitted_by: a.member,
                created_height: a.created_height,
                detail: b.clone(),
            }),
            _ => None,
        }
    }

    /// The instructions a staging batch holds, in settlement order (empty once it settled or
    /// was aborted: they were dropped).
    pub fn batch_instructions(&self, batch: &BatchId) -> Vec<&SettlementInstruction> {
        let Some(AccountDetail::Batch(b)) = self
            .accounts
            .get(&batch_account_id(batch))
            .map(|a| &a.detail)
        else {
            return Vec::new();
        };
        b.chunks
            .iter()
            .filter_map(|c| {
                match self
                    .accounts
                    .get(&chunk_account_id(batch, *c))
                    .map(|a| &a.detail)
                {
                    Some(AccountDetail::Chunk(d)) => Some(d.instructions.iter()),
                    _ => None,
                }
            })
            .flatten()
            .collect()
    }

    /// The batch staging in `currency`, if any (a currency stages one batch at a time).
    pub fn staging_batch_of(&self, currency: Currency) -> Option<BatchId> {
        self.staging.get(&currency).copied()
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
    /// account: zero everywhere.
    pub fn all_position_totals(&self) -> BTreeMap<(Currency, u64), i128> {
        let mut totals: BTreeMap<(Currency, u64), i128> = BTreeMap::new();
        for a in self.accounts.values() {
            if let AccountDetail::Position { window } = a.detail {
                let t = totals.entry((a.currency, window)).or_insert(0);
                *t = t.saturating_add(a.balance());
            }
        }
        totals
    }
}

//! Settlement batches: `StageBatch` keeps a closed window's interbank instructions in chunks,
//! `SettleBatch` nets them with the window's obligations and moves every settlement account
//! in one step (policy `reject` or `unwind`), `AbortBatch` discards a staging batch; and the
//! batch read API. The window and liquidity side is in `clearing.rs`.

use super::staging::{add, blank, Staged};
use super::Ledger;
use crate::account::{
    batch_account_id, chunk_account_id, Account, AccountDetail, AccountKind, BatchDetail,
    BatchState, ChunkDetail, Obligation, Shortfall, WindowDetail, WindowState,
};
use crate::netting::plan_settlement;
use crate::outcome::{RecordDetail, ResultCode};
use settlenet_types::{
    batch_digest, AccountId, BatchId, Currency, Hash, Height, MemberId, PublicKey,
    SettlementInstruction, SettlementPolicy,
};
use std::collections::BTreeMap;

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

impl Ledger {
    // ---------------------------------------------------------------------------------------
    // Checks shared by staging and settling.

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

    // ---------------------------------------------------------------------------------------
    // Read API (what the node exposes).

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
}

//! Executing blocks: mempool precheck, `apply_block` (expiry sweep, then each transaction in
//! order), per-transaction idempotency and record, and the dispatch of each operation to its
//! family's module. Checks come in a fixed order per operation; the order is pinned by the
//! table tests.

use super::charges::NewCharge;
use super::staging::Staged;
use super::{batches, Ledger};
use crate::account::AccountKind;
use crate::history::{block_records_root, history_leaf};
use crate::limits::{CHARGE_TIMEOUT_MS_MAX, HOLD_TIMEOUT_MS_MAX};
use crate::outcome::{BlockOutcome, RecordDetail, ResultCode, TxOutcome, TxRecord};
use settlenet_types::{
    check_observer_name, check_peer_id, is_max35_text, AccountId, Amount, ChargePayer, Height,
    MemberId, Operation, Payee, PublicKey, Role, SignedTransaction, Transaction, TxId,
    BATCH_CHUNKS_MAX, SETTLEMENT_CHUNK_MAX, TX_VALIDITY_MAX_MS, TX_VERSION,
};
use std::collections::BTreeSet;

impl Ledger {
    /// Mempool admission: everything about a transaction that does not depend on the order of
    /// transactions. The stateless checks (chain id, version, nonzero amount, not same account,
    /// an observer's peer id and name as text), then [`Ledger::check_authority`]: a signer who
    /// may never perform the operation is refused at the door, so junk from keys the consortium
    /// never gave a role leaves no record. Signatures are NOT checked here. Inside a block the
    /// same rules run again (in the operation's own order) and a failure is recorded.
    pub fn precheck(&self, tx: &SignedTransaction) -> Result<(), ResultCode> {
        self.check_stateless(&tx.tx)?;
        self.check_authority(&tx.tx)
    }

    /// Whether `tx` may take effect at consensus time `now_ms`: not after its
    /// `valid_until_ms` (`expired`), and not with a `valid_until_ms` more than
    /// `TX_VALIDITY_MAX_MS` ahead (`validity_too_long`). Inside a block `now_ms` is the block's timestamp; at
    /// admission the node passes its clock (a transaction that expires while it waits is
    /// dropped from the mempool, or refused by the block that would carry it).
    pub fn check_validity(tx: &Transaction, now_ms: u64) -> Result<(), ResultCode> {
        if tx.valid_until_ms < now_ms {
            return Err(ResultCode::Expired);
        }
        if tx.valid_until_ms > now_ms.saturating_add(TX_VALIDITY_MAX_MS) {
            return Err(ResultCode::ValidityTooLong);
        }
        Ok(())
    }

    /// The result a block stamped `now_ms` gives `tx` without writing a record: `id_not_derived`
    /// (its id is not its signer's), `expired` or `validity_too_long`. `None`: the block
    /// records its result (or it is a duplicate of a live record). For readers of stored
    /// blocks, which find no record for such a transaction.
    pub fn unrecorded_refusal(tx: &Transaction, now_ms: u64) -> Option<ResultCode> {
        if tx.check_id().is_err() {
            return Some(ResultCode::IdNotDerived);
        }
        Ledger::check_validity(tx, now_ms).err()
    }

    /// Whether the signer could ever be allowed this operation, judged only on what no later
    /// transaction can change: members' staff keys and roles (fixed at genesis), and the owner
    /// of an existing account (fixed at its creation). An operation on an account that does
    /// not exist yet passes (a pending transaction may create it), and so do capture, void and
    /// refund (their signer depends on the hold or capture they name). A refusal here is also
    /// a refusal inside any block: the same checks run in `execute`.
    pub fn check_authority(&self, tx: &Transaction) -> Result<(), ResultCode> {
        self.authority(tx, true)
    }

    /// What no state of the ledger can change: the stateless checks and the staff roles the
    /// operation needs (fixed at genesis), but not who owns an account. Every replica reaches
    /// the same verdict whatever blocks it has executed, so a backup refuses a proposal holding
    /// a transaction that fails it (an honest primary never proposes one: its admission ran
    /// [`Ledger::precheck`], which includes these), and a Byzantine primary cannot fill blocks
    /// with junk from keys the consortium gave no role.
    pub fn check_static(&self, tx: &Transaction) -> Result<(), ResultCode> {
        self.check_stateless(tx)?;
        self.authority(tx, false)
    }

    /// [`Ledger::check_authority`]; with `owners` false, only what depends on genesis alone.
    fn authority(&self, tx: &Transaction, owners: bool) -> Result<(), ResultCode> {
        let signer = &tx.signer;
        let any_role = |role: Role| -> Result<(), ResultCode> {
            let mut staff = false;
            for m in &self.members {
                if let Some(roles) = m.staff.get(signer) {
                    if roles.contains(&role) {
                        return Ok(());
                    }
                    staff = true;
                }
            }
            Err(if staff {
                ResultCode::ForbiddenRole
            } else {
                ResultCode::ForbiddenSigner
            })
        };
        match &tx.op {
            Operation::CloseWindow { .. }
            | Operation::StageBatch { .. }
            | Operation::SettleBatch { .. }
            | Operation::AbortBatch { .. }
            | Operation::FundSettlement { .. }
            | Operation::WithdrawSettlement { .. }
            | Operation::SetNetDebitCap { .. } => self.check_clearing(signer).map(|_| ()),
            Operation::RegisterObserver { member, .. }
            | Operation::RemoveObserver { member, .. } => self.check_any_staff(*member, signer),
            Operation::CreateWallet { issuer, .. } | Operation::RegisterWallet { issuer, .. } => {
                self.check_staff(*issuer, signer, Role::Issuer)
            }
            Operation::RegisterMerchant { acquirer, .. } => {
                self.check_staff(*acquirer, signer, Role::Acquirer)
            }
            Operation::Issue { .. } | Operation::Redeem { .. } if !owners => any_role(Role::Issuer),
            Operation::Transfer { .. }
            | Operation::Pay { .. }
            | Operation::Authorize { .. }
            | Operation::ApproveCharge { .. }
            | Operation::DeclineCharge { .. }
            | Operation::CreateCharge { .. }
                if !owners =>
            {
                Ok(())
            }
            Operation::Issue { wallet, .. } | Operation::Redeem { wallet, .. } => {
                match self.accounts.get(wallet) {
                    Some(w) if w.kind == AccountKind::Wallet => {
                        self.check_staff(w.member, signer, Role::Issuer)
                    }
                    Some(_) => Err(ResultCode::NotAWallet),
                    None => any_role(Role::Issuer),
                }
            }
            Operation::CreateCharge { merchant, .. } => match self.accounts.get(merchant) {
                Some(m) if m.kind != AccountKind::Merchant => Err(ResultCode::NotAMerchant),
                Some(m) => self.check_merchant_side(m, signer),
                None => Ok(()),
            },
            Operation::Transfer { from, .. }
            | Operation::Pay { from, .. }
            | Operation::Authorize { from, .. }
            | Operation::ApproveCharge { from, .. }
            | Operation::DeclineCharge { from, .. } => match self.accounts.get(from) {
                Some(a) if a.kind != AccountKind::Wallet => Err(ResultCode::NotAWallet),
                Some(a) if a.owner != Some(*signer) => Err(ResultCode::ForbiddenSigner),
                _ => Ok(()),
            },
            Operation::Capture { .. }
            | Operation::Void { .. }
            | Operation::Refund { .. }
            | Operation::CancelCharge { .. } => Ok(()),
        }
    }

    fn check_stateless(&self, tx: &Transaction) -> Result<(), ResultCode> {
        if tx.chain_id != self.chain_id {
            return Err(ResultCode::WrongChain);
        }
        if tx.version != TX_VERSION {
            return Err(ResultCode::UnsupportedVersion);
        }
        if tx.check_id().is_err() {
            return Err(ResultCode::IdNotDerived);
        }
        let nonzero = |amount: &Amount| {
            if amount.0 == 0 {
                Err(ResultCode::ZeroAmount)
            } else {
                Ok(())
            }
        };
        match &tx.op {
            Operation::CreateWallet { .. }
            | Operation::RegisterWallet { .. }
            | Operation::RegisterMerchant { .. }
            | Operation::Void { .. }
            | Operation::CloseWindow { .. }
            | Operation::AbortBatch { .. }
            | Operation::SetNetDebitCap { .. }
            | Operation::DeclineCharge { .. }
            | Operation::CancelCharge { .. } => Ok(()),
            Operation::CreateCharge {
                merchant,
                amount,
                reference,
                payer,
                timeout_ms,
                hold_timeout_ms,
                ..
            } => {
                nonzero(amount)?;
                if !is_max35_text(reference) {
                    return Err(ResultCode::InvalidReference);
                }
                if *timeout_ms == 0
                    || *timeout_ms > CHARGE_TIMEOUT_MS_MAX
                    || *hold_timeout_ms == 0
                    || *hold_timeout_ms > HOLD_TIMEOUT_MS_MAX
                {
                    return Err(ResultCode::InvalidTimeout);
                }
                if *payer == Some(ChargePayer::Account(*merchant)) {
                    return Err(ResultCode::SameAccount);
                }
                Ok(())
            }
            Operation::ApproveCharge { amount, .. } => nonzero(amount),
            Operation::RegisterObserver { peer_id, name, .. } => {
                check_peer_id(peer_id).map_err(|_| ResultCode::InvalidPeerId)?;
                check_observer_name(name).map_err(|_| ResultCode::InvalidObserverName)
            }
            Operation::RemoveObserver { peer_id, .. } => {
                check_peer_id(peer_id).map_err(|_| ResultCode::InvalidPeerId)
            }
            Operation::Issue { amount, .. }
            | Operation::Redeem { amount, .. }
            | Operation::Capture { amount, .. }
            | Operation::Refund { amount, .. }
            | Operation::FundSettlement { amount, .. }
            | Operation::WithdrawSettlement { amount, .. } => nonzero(amount),
            Operation::StageBatch {
                chunk,
                instructions,
                ..
            } => {
                if *chunk >= BATCH_CHUNKS_MAX
                    || instructions.is_empty()
                    || instructions.len() > SETTLEMENT_CHUNK_MAX
                {
                    return Err(ResultCode::InvalidChunk);
                }
                for i in instructions {
                    nonzero(&i.amount)?;
                    if !i.id_is_valid() {
                        return Err(ResultCode::InvalidInstruction);
                    }
                    if i.debtor == i.creditor {
                        return Err(ResultCode::SelfInstruction);
                    }
                }
                Ok(())
            }
            Operation::SettleBatch {
                chunks,
                instructions,
                ..
            } => {
                let most = u64::from(BATCH_CHUNKS_MAX) * SETTLEMENT_CHUNK_MAX as u64;
                if *chunks > BATCH_CHUNKS_MAX || *instructions > most {
                    return Err(ResultCode::InvalidChunk);
                }
                Ok(())
            }
            Operation::Transfer { from, to, amount } => {
                nonzero(amount)?;
                if from == to {
                    return Err(ResultCode::SameAccount);
                }
                Ok(())
            }
            Operation::Pay {
                from,
                to,
                amount,
                fee,
            } => {
                nonzero(amount)?;
                if let Some(fee) = fee {
                    nonzero(fee)?;
                }
                if *to == Payee::Account(*from) {
                    return Err(ResultCode::SameAccount);
                }
                Ok(())
            }
            Operation::Authorize {
                from,
                merchant,
                amount,
                timeout_ms,
                ..
            } => {
                nonzero(amount)?;
                if from == merchant {
                    return Err(ResultCode::SameAccount);
                }
                if *timeout_ms == 0 || *timeout_ms > HOLD_TIMEOUT_MS_MAX {
                    return Err(ResultCode::InvalidTimeout);
                }
                Ok(())
            }
        }
    }

    /// Execute a committed block.
    ///
    /// Precondition: every signature was verified by the caller (the node batch-verifies blocks
    /// before voting); the ledger trusts `tx.signer` and checks only that it is *allowed*.
    /// `height` must be `self.height() + 1` (asserted). `timestamp_ms` is consensus time: it
    /// expires holds (swept first, at most [`HOLD_EXPIRIES_PER_BLOCK_MAX`] per block), sets new
    /// holds' deadlines and selects the UTC day of daily limits. Timestamps are expected to
    /// increase (consensus guarantees it); the ledger does not depend on it for safety.
    ///
    /// [`HOLD_EXPIRIES_PER_BLOCK_MAX`]: crate::HOLD_EXPIRIES_PER_BLOCK_MAX
    pub fn apply_block(
        &mut self,
        height: Height,
        timestamp_ms: u64,
        txs: &[SignedTransaction],
    ) -> BlockOutcome {
        assert_eq!(
            height,
            self.height.next(),
            "blocks must be applied in order: ledger at {}, block at {height}",
            self.height
        );
        let mut outcomes = Vec::with_capacity(txs.len());
        let mut changed = BTreeSet::new();
        let mut new_records = Vec::new();
        // Only a block that carries transactions prunes (what it drops could only matter to a
        // transaction), and only one that writes records grows the history: an empty block
        // leaves the state root as it was (unless holds expire in it), so an idle primary's
        // one empty block certifies the latest state and the next one is not wanted.
        let pruned_records = if txs.is_empty() {
            Vec::new()
        } else {
            self.prune_records(timestamp_ms)
        };
        let mut expired = Vec::new();
        self.expire_holds(height, timestamp_ms, &mut changed, &mut expired);
        self.expire_charges(height, timestamp_ms, &mut changed, &mut expired);
        expired.sort_unstable();
        let archived = self.archive_closed(timestamp_ms);
        for (index, stx) in txs.iter().enumerate() {
            // A block that decodes within the message limit holds far fewer than 2^32 txs.
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            outcomes.push(self.apply_tx(
                height,
                timestamp_ms,
                index,
                &stx.tx,
                &mut changed,
                &mut new_records,
            ));
        }
        let mut changed_accounts = Vec::with_capacity(changed.len());
        for id in &changed {
            if let Some(account) = self.accounts.get(id) {
                self.tree.set_account(account);
                changed_accounts.push(account.clone());
            }
        }
        for (id, record) in &new_records {
            self.tree.set_record(id, record);
        }
        self.tree.commit();
        let history_nodes = if new_records.is_empty() {
            Vec::new()
        } else {
            self.history.append(history_leaf(
                height,
                new_records.len() as u64,
                &block_records_root(&new_records),
            ))
        };
        self.height = height;

        for a in &changed_accounts {
            assert!(
                !a.kind.must_stay_nonnegative() || a.available() >= 0,
                "invariant broken: account {} below zero after block {height}",
                a.id
            );
        }
        assert_eq!(
            self.totals(),
            self.genesis_totals,
            "invariant broken: money not conserved after block {height}"
        );
        // O(accounts): only in debug builds (tests, the simulator), in memory mode.
        #[cfg(debug_assertions)]
        if let Some(recounted) = self.recount_totals() {
            assert_eq!(
                recounted,
                self.totals(),
                "invariant broken: kept totals differ from the accounts after block {height}"
            );
        }
        #[cfg(debug_assertions)]
        self.assert_window_invariants(height);
        BlockOutcome {
            outcomes,
            changed_accounts,
            new_records,
            pruned_records,
            history_nodes,
            history: self.history.clone(),
            state_root: self.state_root(),
            expired,
            archived,
        }
    }

    /// Move closed hold and charge entries whose archive time is at or before `now_ms` out of
    /// the state (at most [`ARCHIVED_PER_BLOCK_MAX`], earliest first): nothing can change them
    /// any more, so the ledger need not hold them. Their leaves leave the accounts tree; the node
    /// keeps their final values in its archive. Returns them, sorted by id.
    ///
    /// [`ARCHIVED_PER_BLOCK_MAX`]: crate::ARCHIVED_PER_BLOCK_MAX
    fn archive_closed(&mut self, now_ms: u64) -> Vec<crate::account::Account> {
        let due = super::staging::due(&self.archive_queue, now_ms, crate::ARCHIVED_PER_BLOCK_MAX);
        let mut out = Vec::with_capacity(due.len());
        for id in due {
            let Some(account) = self.accounts.remove(&id) else {
                panic!("invariant broken: archive queue names missing entry {id}");
            };
            if let Some(t) = crate::account::archive_at_ms(&account) {
                self.archive_queue.remove(&(t, id));
            }
            if let crate::account::AccountDetail::Hold(h) = &account.detail {
                if let Some(capture) = h.capture_tx {
                    self.captures.remove(&capture);
                }
            }
            self.tree.remove_account(&id);
            out.push(account);
        }
        out.sort_by_key(|a| a.id);
        out
    }

    /// Drop from the live set every record whose validity ended before `now_ms`: no transaction
    /// with its id can execute any more (the id binds the validity, and `expired` is checked
    /// before the operation), so nothing needs it to stay idempotent. It stays in the history.
    /// Returns the ids dropped, in `(valid_until_ms, id)` order.
    fn prune_records(&mut self, now_ms: u64) -> Vec<TxId> {
        let mut pruned = Vec::new();
        while let Some(&(until, id)) = self.record_expiries.first() {
            if until >= now_ms {
                break;
            }
            self.record_expiries.pop_first();
            self.records.remove(&id);
            self.tree.remove_record(&id);
            pruned.push(id);
        }
        pruned
    }

    /// Execute one transaction: idempotency, stateless checks, then the operation.
    fn apply_tx(
        &mut self,
        height: Height,
        now_ms: u64,
        index: u32,
        tx: &Transaction,
        changed: &mut BTreeSet<AccountId>,
        new_records: &mut Vec<(TxId, TxRecord)>,
    ) -> TxOutcome {
        let outcome = |result, duplicate, changed: Vec<AccountId>, detail| TxOutcome {
            id: tx.id,
            result,
            duplicate,
            changed,
            detail,
        };
        let Ok(body_hash) = tx.intent_hash() else {
            // Encoding fails only beyond the 32 MiB limit, i.e. with a chain id no chain has,
            // and never for a transaction decoded from a block. Nothing to record it under.
            return outcome(ResultCode::WrongChain, false, Vec::new(), None);
        };
        if tx.check_id().is_err() {
            // Its id is someone else's (or no one's): recording a result under it would let a
            // Byzantine primary take the id from its real signer. Replicas refuse such a block
            // (its signature check fails), so this is a second line only.
            return outcome(ResultCode::IdNotDerived, false, Vec::new(), None);
        }
        if let Some(record) = self.records.get(&tx.id) {
            return if record.body_hash == body_hash {
                outcome(record.result, true, Vec::new(), record.detail.clone())
            } else {
                outcome(ResultCode::ExistsWithDifferentBody, false, Vec::new(), None)
            };
        }
        if let Err(code) = Ledger::check_validity(tx, now_ms) {
            // Outside its validity: not recorded, so every live record's validity ends within
            // `TX_VALIDITY_MAX_MS` of its block and the live set stays bounded. An expired id
            // can never execute (time only moves forward); a too-long one may, later, if it is
            // still in a block once its validity is within reach.
            return outcome(code, false, Vec::new(), None);
        }
        // The accounts this transaction changed (empty unless it succeeded: writes are all or
        // none), reported per transaction for the node's account-history index.
        let mut touched = BTreeSet::new();
        let mut detail = None;
        let result = match self
            .check_stateless(tx)
            .and_then(|()| self.execute(height, now_ms, tx, &mut touched, &mut detail))
        {
            Ok(()) => ResultCode::Ok,
            Err(code) => code,
        };
        changed.extend(touched.iter().copied());
        let record = TxRecord {
            body_hash,
            height,
            index,
            result,
            detail: detail.clone(),
            valid_until_ms: tx.valid_until_ms,
        };
        self.record_expiries.insert((tx.valid_until_ms, tx.id));
        self.records.insert(tx.id, record.clone());
        new_records.push((tx.id, record));
        outcome(result, false, touched.into_iter().collect(), detail)
    }

    /// Run the operation. Checks come in a fixed order (existence, kind, authorization, state,
    /// then amounts); writes go to a staging copy that is committed only if everything passed,
    /// so an `Err` leaves every account untouched.
    fn execute(
        &mut self,
        height: Height,
        now_ms: u64,
        tx: &Transaction,
        changed: &mut BTreeSet<AccountId>,
        detail: &mut Option<RecordDetail>,
    ) -> Result<(), ResultCode> {
        let signer = &tx.signer;
        let mut staged = Staged::new();
        match &tx.op {
            Operation::CloseWindow { currency, window } => {
                self.close_window(&mut staged, height, signer, *currency, *window)?;
            }
            Operation::StageBatch {
                batch,
                currency,
                window,
                chunk,
                instructions,
            } => {
                self.stage_batch(
                    &mut staged,
                    height,
                    signer,
                    batch,
                    *currency,
                    *window,
                    *chunk,
                    instructions,
                )?;
            }
            Operation::SettleBatch {
                batch,
                currency,
                window,
                chunks,
                instructions,
                digest,
                policy,
            } => {
                let request = batches::SettleRequest {
                    batch: *batch,
                    currency: *currency,
                    window: *window,
                    chunks: *chunks,
                    instructions: *instructions,
                    digest: *digest,
                    policy: *policy,
                };
                self.settle_batch(&mut staged, height, signer, &request, detail)?;
            }
            Operation::AbortBatch { batch } => {
                self.abort_batch(&mut staged, height, signer, batch)?;
            }
            Operation::FundSettlement {
                member,
                currency,
                amount,
            }
            | Operation::WithdrawSettlement {
                member,
                currency,
                amount,
            } => {
                let funding = matches!(tx.op, Operation::FundSettlement { .. });
                self.fund(
                    &mut staged,
                    height,
                    signer,
                    *member,
                    *currency,
                    *amount,
                    funding,
                )?;
            }
            Operation::SetNetDebitCap {
                member,
                currency,
                cap,
            } => {
                self.set_cap(&mut staged, height, signer, *member, *currency, *cap)?;
            }
            Operation::RegisterObserver {
                member,
                peer_id,
                name,
            } => {
                self.register_observer(&mut staged, height, signer, *member, peer_id, name)?;
            }
            Operation::RemoveObserver { member, peer_id } => {
                self.remove_observer(&mut staged, height, signer, *member, peer_id)?;
            }
            Operation::CreateWallet {
                account,
                issuer,
                owner,
                currency,
            } => {
                self.create_wallet(
                    &mut staged,
                    height,
                    signer,
                    account,
                    issuer,
                    owner,
                    currency,
                )?;
            }
            Operation::RegisterWallet {
                account,
                issuer,
                alias,
                alias_key_version,
                owner,
                currency,
                tier,
            } => {
                self.register_wallet(
                    &mut staged,
                    height,
                    now_ms,
                    signer,
                    account,
                    issuer,
                    alias,
                    *alias_key_version,
                    owner,
                    currency,
                    *tier,
                )?;
            }
            Operation::RegisterMerchant {
                account,
                acquirer,
                owner,
                currency,
            } => {
                self.register_merchant(
                    &mut staged,
                    height,
                    signer,
                    account,
                    acquirer,
                    owner,
                    currency,
                )?;
            }
            Operation::Issue { wallet, amount } | Operation::Redeem { wallet, amount } => {
                let issuing = matches!(tx.op, Operation::Issue { .. });
                self.issue_or_redeem(&mut staged, height, signer, wallet, amount, issuing)?;
            }
            Operation::Transfer { from, to, amount } => {
                self.pay(
                    &mut staged,
                    height,
                    now_ms,
                    signer,
                    from,
                    &Payee::Account(*to),
                    *amount,
                    None,
                    true,
                )?;
            }
            Operation::Pay {
                from,
                to,
                amount,
                fee,
            } => {
                self.pay(
                    &mut staged,
                    height,
                    now_ms,
                    signer,
                    from,
                    to,
                    *amount,
                    *fee,
                    false,
                )?;
            }
            Operation::Authorize {
                hold,
                from,
                merchant,
                amount,
                timeout_ms,
            } => {
                self.authorize(
                    &mut staged,
                    height,
                    now_ms,
                    signer,
                    hold,
                    from,
                    merchant,
                    amount,
                    *timeout_ms,
                )?;
            }
            Operation::Capture { hold, amount } => {
                self.capture_or_void(
                    &mut staged,
                    height,
                    now_ms,
                    signer,
                    tx.id,
                    hold,
                    Some(amount),
                )?;
            }
            Operation::Void { hold } => {
                self.capture_or_void(&mut staged, height, now_ms, signer, tx.id, hold, None)?;
            }
            Operation::Refund { capture, amount } => {
                self.refund(&mut staged, height, now_ms, signer, capture, amount)?;
            }
            Operation::CreateCharge {
                charge,
                merchant,
                amount,
                reference,
                payer,
                timeout_ms,
                hold_timeout_ms,
            } => {
                let new = NewCharge {
                    charge,
                    merchant,
                    amount: *amount,
                    reference,
                    payer: payer.as_ref(),
                    timeout_ms: *timeout_ms,
                    hold_timeout_ms: *hold_timeout_ms,
                };
                self.create_charge(&mut staged, height, now_ms, signer, tx.id, &new)?;
            }
            Operation::ApproveCharge {
                charge,
                hold,
                from,
                amount,
            } => {
                self.approve_charge(
                    &mut staged,
                    height,
                    now_ms,
                    signer,
                    tx.id,
                    charge,
                    hold,
                    from,
                    amount,
                )?;
            }
            Operation::DeclineCharge { charge, from } => {
                self.decline_charge(&mut staged, height, now_ms, signer, tx.id, charge, from)?;
            }
            Operation::CancelCharge { charge } => {
                self.cancel_charge(&mut staged, height, now_ms, signer, tx.id, charge)?;
            }
        }
        self.commit(staged, changed)
    }

    /// Whether `signer` may act for `member` in `role`: `unknown_member` if there is no such
    /// member, `forbidden_signer` if the key is not one of its staff keys, `forbidden_role` if
    /// it is but lacks the role.
    pub(super) fn check_staff(
        &self,
        member: MemberId,
        signer: &PublicKey,
        role: Role,
    ) -> Result<(), ResultCode> {
        let m = self
            .members
            .get(usize::from(member.0))
            .ok_or(ResultCode::UnknownMember)?;
        match m.staff.get(signer) {
            None => Err(ResultCode::ForbiddenSigner),
            Some(roles) if roles.contains(&role) => Ok(()),
            Some(_) => Err(ResultCode::ForbiddenRole),
        }
    }
}

//! Observer nodes: `RegisterObserver`, `RemoveObserver`, and the read API the node's
//! connection allow-list uses.
//!
//! An observer is a non-validator node (an integrator's node that syncs blocks and serves
//! reads). Validators admit its libp2p peer id only while a ledger entry registered by a
//! sponsoring member says so, so every validator admits the same peers at the same height and
//! the state root commits to the list. Each registration is an [`AccountKind::Observer`] entry
//! with id [`observer_account_id`]`(peer_id)`; removal keeps the entry with its
//! `removed_height`, and a later registration (by any member) reactivates it.
//!
//! Checks, in order (the peer id's and name's form are checked statelessly before):
//! register: `unknown_member`, `forbidden_signer` (not a staff key of `member`; any role will
//! do), `validator_peer_id`, `observer_exists` (active, whoever sponsors it), `account_exists`
//! (the id was taken by a client-chosen account first), `too_many_observers`; remove:
//! `unknown_member`, `forbidden_signer`, `observer_not_found` (never registered, or removed),
//! `sponsor_mismatch` (sponsored by another member).

use super::staging::{blank, Staged};
use super::Ledger;
use crate::account::{observer_account_id, AccountDetail, AccountKind, ObserverDetail};
use crate::limits::{OBSERVERS_MAX, OBSERVERS_PER_MEMBER_MAX};
use crate::outcome::ResultCode;
use settlenet_types::{Currency, Height, MemberId, PublicKey};

impl Ledger {
    /// Whether `signer` is a staff key of `member`, whatever its roles: `unknown_member` if
    /// there is no such member, `forbidden_signer` if the key is not one of its staff keys.
    pub(super) fn check_any_staff(
        &self,
        member: MemberId,
        signer: &PublicKey,
    ) -> Result<(), ResultCode> {
        let m = self
            .members
            .get(usize::from(member.0))
            .ok_or(ResultCode::UnknownMember)?;
        if m.staff.contains_key(signer) {
            Ok(())
        } else {
            Err(ResultCode::ForbiddenSigner)
        }
    }

    /// `RegisterObserver`: a new active observer entry, or a removed one reactivated under
    /// `member`.
    pub(super) fn register_observer(
        &self,
        staged: &mut Staged,
        height: Height,
        signer: &PublicKey,
        member: MemberId,
        peer_id: &str,
        name: &str,
    ) -> Result<(), ResultCode> {
        self.check_any_staff(member, signer)?;
        if self.validator_peers.contains(peer_id) {
            return Err(ResultCode::ValidatorPeerId);
        }
        let id = observer_account_id(peer_id);
        let existing = self.accounts.get(&id);
        match existing.map(|a| &a.detail) {
            None => {}
            Some(AccountDetail::Observer(o)) if !o.is_active() => {}
            Some(AccountDetail::Observer(_)) => return Err(ResultCode::ObserverExists),
            // Wallet and merchant ids are client-chosen and ours is a public hash: an issuer
            // could take it first. Refuse rather than mix the entries.
            Some(_) => return Err(ResultCode::AccountExists),
        }
        let sponsored = self
            .observers
            .values()
            .filter(|o| o.sponsor == member)
            .count();
        if sponsored >= OBSERVERS_PER_MEMBER_MAX || self.observers.len() >= OBSERVERS_MAX {
            return Err(ResultCode::TooManyObservers);
        }
        let entry = staged.entry(id).or_insert_with(|| match existing {
            Some(a) => a.clone(),
            None => blank(
                id,
                AccountKind::Observer,
                member,
                Currency::NONE,
                None,
                height,
                AccountDetail::None,
            ),
        });
        entry.member = member;
        entry.detail = AccountDetail::Observer(ObserverDetail {
            peer_id: peer_id.to_string(),
            name: name.to_string(),
            sponsor: member,
            registered_height: height,
            removed_height: None,
        });
        Ok(())
    }

    /// `RemoveObserver`: the active observer's entry gets its `removed_height`.
    pub(super) fn remove_observer(
        &self,
        staged: &mut Staged,
        height: Height,
        signer: &PublicKey,
        member: MemberId,
        peer_id: &str,
    ) -> Result<(), ResultCode> {
        self.check_any_staff(member, signer)?;
        let Some(active) = self.observers.get(peer_id) else {
            return Err(ResultCode::ObserverNotFound);
        };
        if active.sponsor != member {
            return Err(ResultCode::SponsorMismatch);
        }
        let entry = self.stage(staged, &observer_account_id(peer_id))?;
        match &mut entry.detail {
            AccountDetail::Observer(o) => o.removed_height = Some(height),
            other => panic!("invariant broken: active observer {peer_id}'s entry holds {other:?}"),
        }
        Ok(())
    }

    // ---------------------------------------------------------------------------------------
    // Read API (what the node's allow-list and HTTP API use).

    /// The active observers, by peer id: O(observers) (at most [`OBSERVERS_MAX`]), from an
    /// index rebuilt with the ledger.
    pub fn observers(&self) -> impl Iterator<Item = &ObserverDetail> {
        self.observers.values()
    }

    /// The active observer with this peer id, if any.
    pub fn observer(&self, peer_id: &str) -> Option<&ObserverDetail> {
        self.observers.get(peer_id)
    }

    /// Number of active observers.
    pub fn observer_count(&self) -> usize {
        self.observers.len()
    }
}

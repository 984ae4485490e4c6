//! The checker: what honest replicas report, compared after every step.
//!
//! The simulator feeds it only what honest replicas do (a Byzantine replica's ledger and votes
//! prove nothing). It is separate from the simulator so that tests can feed it conflicting
//! reports directly and see it fail.

use crate::error::Violation;
use settlenet_types::{Hash, Height, View};
use std::collections::BTreeMap;

/// The kinds of vote whose uniqueness per (view, height) is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum VoteKind {
    /// PRE-PREPARE (the primary's proposal).
    PrePrepare,
    /// PREPARE.
    Prepare,
    /// COMMIT.
    Commit,
}

impl VoteKind {
    fn name(self) -> &'static str {
        match self {
            VoteKind::PrePrepare => "pre-prepare",
            VoteKind::Prepare => "prepare",
            VoteKind::Commit => "commit",
        }
    }
}

/// Safety state across the honest replicas of one run.
#[derive(Debug, Default)]
pub struct Checker {
    /// The one block final at each height.
    decided: BTreeMap<Height, Hash>,
    /// The state root after each height, as first reported (execution or stable checkpoint).
    roots: BTreeMap<Height, Hash>,
    /// Every vote sent: (replica, kind, view, height) -> digest.
    votes: BTreeMap<(usize, VoteKind, View, Height), Hash>,
    /// Each replica's highest view so far (kept across restarts).
    views: BTreeMap<usize, View>,
}

impl Checker {
    /// A checker that has seen nothing.
    pub fn new() -> Checker {
        Checker::default()
    }

    /// An honest replica holds `block` as final at `height`. Returns whether the height is new.
    pub fn final_block(&mut self, height: Height, block: Hash) -> Result<bool, Violation> {
        match self.decided.get(&height) {
            Some(first) if *first != block => Err(Violation::TwoBlocksFinal {
                height,
                first: *first,
                second: block,
            }),
            Some(_) => Ok(false),
            None => {
                self.decided.insert(height, block);
                Ok(true)
            }
        }
    }

    /// `replica`'s state root after `height` (executed, or from a stable checkpoint).
    pub fn state_root(
        &mut self,
        replica: usize,
        height: Height,
        root: Hash,
    ) -> Result<(), Violation> {
        match self.roots.get(&height) {
            Some(ours) if *ours != root => Err(Violation::StateRootDiffers {
                replica,
                height,
                ours: *ours,
                theirs: root,
            }),
            Some(_) => Ok(()),
            None => {
                self.roots.insert(height, root);
                Ok(())
            }
        }
    }

    /// `replica` sent a vote of `kind` for `digest` at (view, height).
    pub fn vote(
        &mut self,
        replica: usize,
        kind: VoteKind,
        view: View,
        height: Height,
        digest: Hash,
    ) -> Result<(), Violation> {
        match self.votes.get(&(replica, kind, view, height)) {
            Some(first) if *first != digest => Err(Violation::TwoVotes {
                replica,
                kind: kind.name(),
                view,
                height,
            }),
            Some(_) => Ok(()),
            None => {
                self.votes.insert((replica, kind, view, height), digest);
                Ok(())
            }
        }
    }

    /// `replica` is in `view` now. Returns whether the view went up.
    pub fn view(&mut self, replica: usize, view: View) -> Result<bool, Violation> {
        let highest = self.views.entry(replica).or_insert(View(0));
        if view < *highest {
            return Err(Violation::ViewDecreased {
                replica,
                from: *highest,
                to: view,
            });
        }
        let up = view > *highest;
        *highest = view;
        Ok(up)
    }

    /// The highest height final so far.
    pub fn top(&self) -> Height {
        self.decided
            .keys()
            .next_back()
            .copied()
            .unwrap_or(Height(0))
    }

    /// How many heights are final.
    pub fn decided(&self) -> usize {
        self.decided.len()
    }
}

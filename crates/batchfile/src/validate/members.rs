//! Looking members up by what a file calls them: name, BIC (an 8-character BIC equals its `XXX`
//! branch) or clearing member id. An identifier two members share is a problem, never a guess.

use settlenet_types::{Genesis, MemberId};
use std::collections::BTreeMap;

/// A member identifier that more than one genesis member carries.
const AMBIGUOUS: MemberId = MemberId(u16::MAX);

/// Normalise a BIC for comparison: uppercase, an 8-character BIC gets its `XXX` branch.
/// `None` when the text is not a BIC (see `settlenet_types::genesis::normalize_bic`).
pub fn normalize_bic(text: &str) -> Option<String> {
    // One definition of a BIC for the genesis and the files.
    settlenet_types::genesis::normalize_bic(text).ok()
}

/// Looks members up by name, BIC (8 == 11 with `XXX`) and clearing member id.
#[derive(Debug, Clone)]
pub struct Resolver {
    by_name: BTreeMap<String, MemberId>,
    by_bic: BTreeMap<String, MemberId>,
    by_clearing: BTreeMap<String, MemberId>,
}

fn insert_unique(map: &mut BTreeMap<String, MemberId>, key: String, id: MemberId) {
    map.entry(key)
        .and_modify(|m| {
            if *m != id {
                *m = AMBIGUOUS;
            }
        })
        .or_insert(id);
}

impl Resolver {
    /// Index a genesis' members.
    pub fn new(genesis: &Genesis) -> Resolver {
        let mut r = Resolver {
            by_name: BTreeMap::new(),
            by_bic: BTreeMap::new(),
            by_clearing: BTreeMap::new(),
        };
        for m in &genesis.members {
            insert_unique(&mut r.by_name, m.name.clone(), m.id);
            if let Some(bic) = m.bic.as_deref().and_then(normalize_bic) {
                insert_unique(&mut r.by_bic, bic, m.id);
            }
            if let Some(c) = m.clearing_id.as_deref() {
                insert_unique(&mut r.by_clearing, c.trim().to_string(), m.id);
            }
        }
        r
    }

    fn found(kind: &str, text: &str, hit: Option<&MemberId>) -> Result<Option<MemberId>, String> {
        match hit {
            Some(&AMBIGUOUS) => Err(format!(
                "{kind} {text:?} belongs to more than one member in the genesis"
            )),
            Some(&id) => Ok(Some(id)),
            None => Ok(None),
        }
    }

    /// The member with this BIC.
    pub fn by_bic(&self, bic: &str) -> Result<MemberId, String> {
        let norm = normalize_bic(bic)
            .ok_or_else(|| format!("{bic:?} is not a BIC (8 or 11 letters and digits)"))?;
        Self::found("BIC", &norm, self.by_bic.get(&norm))?
            .ok_or_else(|| format!("no member has BIC {norm} in the genesis"))
    }

    /// The member with this clearing member id.
    pub fn by_clearing(&self, id: &str) -> Result<MemberId, String> {
        let t = id.trim();
        Self::found("clearing member id", t, self.by_clearing.get(t))?
            .ok_or_else(|| format!("no member has clearing member id {t:?} in the genesis"))
    }

    /// The member a CSV/JSON cell names: by name, then BIC, then clearing member id.
    pub fn by_any(&self, text: &str) -> Result<MemberId, String> {
        let t = text.trim();
        if let Some(id) = Self::found("name", t, self.by_name.get(t))? {
            return Ok(id);
        }
        if let Some(bic) = normalize_bic(t) {
            if let Some(id) = Self::found("BIC", &bic, self.by_bic.get(&bic))? {
                return Ok(id);
            }
        }
        if let Some(id) = Self::found("clearing member id", t, self.by_clearing.get(t))? {
            return Ok(id);
        }
        Err(format!(
            "no member has the name, BIC or clearing member id {t:?} in the genesis"
        ))
    }
}

//! Staff keys: given with `--key`, or found in a testnet directory by member and role.

use crate::support::Target;
use crate::txbuild::read_key;
use anyhow::{anyhow, bail, Result};
use settlenet_crypto::Keypair;
use settlenet_types::{Genesis, Member, MemberKind, Role};
use std::path::Path;

/// The member that owns staff key `key` with `role`.
fn member_of_staff_key<'g>(genesis: &'g Genesis, key: &Keypair, role: Role) -> Result<&'g Member> {
    genesis
        .members
        .iter()
        .find(|m| {
            m.staff
                .iter()
                .any(|s| s.public_key == key.public() && s.roles.contains(&role))
        })
        .ok_or_else(|| {
            anyhow!(
                "key {} is not a staff key with role {role:?} of any member; pass the member's \
                 name explicitly to let the ledger judge",
                key.public()
            )
        })
}

/// The file name of a role's staff key in a testnet's `keys/<member>/`.
pub fn role_file(role: Role) -> &'static str {
    match role {
        Role::Issuer => "issuer.key",
        Role::Acquirer => "acquirer.key",
        Role::Clearing => "clearing.key",
        Role::Auditor => "auditor.key",
        Role::Governor => "governor.key",
    }
}

/// A staff key and its member: `--key` (member named or derived from the key), or the testnet's
/// `DIR/keys/<member>/<role>.key`.
pub fn staff<'g>(
    t: &Target,
    genesis: &'g Genesis,
    key: Option<&Path>,
    member: Option<&str>,
    role: Role,
    flag: &str,
) -> Result<(Keypair, &'g Member)> {
    let named = member
        .map(|m| {
            genesis
                .member_by_name(m)
                .ok_or_else(|| anyhow!("no member named {m:?} in the genesis"))
        })
        .transpose()?;
    let key = match (key, named, &t.testnet) {
        (Some(p), _, _) => read_key(p)?,
        (None, Some(m), Some(dir)) => {
            read_key(&dir.join("keys").join(&m.name).join(role_file(role)))?
        }
        _ => bail!(
            "--key is required (the {role:?} staff key file), or pass --testnet DIR and {flag} \
             NAME to use the testnet's keys"
        ),
    };
    let member = match named {
        Some(m) => m,
        None => member_of_staff_key(genesis, &key, role)?,
    };
    Ok((key, member))
}

/// The issuer staff key: given explicitly, or the testnet's for that member.
pub fn staff_key(t: &Target, given: Option<&Path>, member: &str) -> Result<Keypair> {
    if let Some(p) = given {
        return read_key(p);
    }
    if let Some(dir) = &t.testnet {
        return read_key(&dir.join("keys").join(member).join("issuer.key"));
    }
    bail!("--key is required (the issuer's staff key file), or pass --testnet DIR to use its keys")
}

/// The merchant-side key: `--key`, or the testnet's acquirer key of the merchant's member.
pub fn merchant_side_key(t: &Target, key: Option<&Path>, member: &str) -> Result<Keypair> {
    match (key, &t.testnet) {
        (Some(p), _) => read_key(p),
        (None, Some(dir)) => read_key(&dir.join("keys").join(member).join("acquirer.key")),
        (None, None) => bail!(
            "--key is required (the merchant's key or its acquirer's staff key), or pass \
             --testnet DIR to use the testnet's acquirer key"
        ),
    }
}

/// The genesis member that runs clearing: the first of kind clearing-house, else the first
/// with a staff key holding the clearing role.
pub fn clearing_member(genesis: &Genesis) -> Option<&Member> {
    genesis
        .members
        .iter()
        .find(|m| m.kind == MemberKind::ClearingHouse)
        .or_else(|| {
            genesis
                .members
                .iter()
                .find(|m| m.staff.iter().any(|s| s.roles.contains(&Role::Clearing)))
        })
}

/// The clearing staff key: `--key`, or the testnet's `keys/<clearing house>/clearing.key`.
pub fn clearing_key(t: &Target, genesis: &Genesis, key: Option<&Path>) -> Result<Keypair> {
    match (key, &t.testnet) {
        (Some(p), _) => read_key(p),
        (None, Some(dir)) => {
            let m = clearing_member(genesis).ok_or_else(|| {
                anyhow!("no member of the genesis has clearing staff; pass --key")
            })?;
            read_key(
                &dir.join("keys")
                    .join(&m.name)
                    .join(role_file(Role::Clearing)),
            )
        }
        (None, None) => bail!(
            "--key is required (a staff key with the clearing role), or pass --testnet DIR to \
             use the clearing house's key"
        ),
    }
}

/// A staff key of `member`, any role: `--key`, or with a testnet the first of the member's
/// staff key files (`DIR/keys/<member>/<role>.key`, in the genesis order of its staff keys)
/// that exists. Whether the key is the member's staff is the ledger's to judge.
pub fn member_staff_key(t: &Target, member: &Member, key: Option<&Path>) -> Result<Keypair> {
    if let Some(p) = key {
        return read_key(p);
    }
    let Some(dir) = &t.testnet else {
        bail!(
            "--key is required (a staff key file of {}, any role), or pass --testnet DIR to use \
             the testnet's keys",
            member.name
        );
    };
    let kdir = dir.join("keys").join(&member.name);
    let found = member
        .staff
        .iter()
        .flat_map(|s| s.roles.iter())
        .map(|r| kdir.join(role_file(*r)))
        .find(|p| p.exists())
        .ok_or_else(|| anyhow!("no staff key file of {} in {}", member.name, kdir.display()))?;
    read_key(&found)
}

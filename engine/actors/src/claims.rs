//! System-wide unique values: a phone number belongs to one tenant, and a
//! tracking tag code to one tag, across every tenant and every node.
//!
//! A claim is an index document in the [`SYSTEM`] tenant slot, keyed by a
//! v5 UUID of the value and created only if absent: the store's
//! compare-and-set makes the second claimant fail, in this process or any
//! other. Its body is `{index, key, tenantId, resourceId}`, so it also
//! answers "whose is this number / tag code" in one read.
//!
//! A number is claimed by whatever first holds it: an inventory entry, or a
//! campaign whose direct number is not in the inventory. The inventory entry
//! of the same tenant takes a campaign's claim over ([`reassign`]).
//!
//! Code that lists these kinds across all tenants (`list_docs(kind, None)`)
//! skips `tenant == SYSTEM`: the claims live there.

use serde_json::{Value, json};
use switchboard_model::{Id, PhoneNumber};
use switchboard_store::{Doc, DocKind, Store, StoreError};

/// The tenant slot of system-wide documents (accounts, sessions, claims).
pub const SYSTEM: Id = Id::nil();

/// A system-wide unique value.
#[derive(Debug, Clone, Copy)]
pub enum Key<'a> {
    /// A phone number: in an inventory, a pool or on a campaign.
    Number(&'a PhoneNumber),
    /// A tracking tag code (case-insensitive).
    TagCode(&'a str),
}

impl Key<'_> {
    fn parts(self) -> (DocKind, &'static str, String) {
        match self {
            Key::Number(n) => (DocKind::Number, "phoneNumber", n.as_str().to_owned()),
            Key::TagCode(c) => (DocKind::TrackingTag, "tagCode", c.to_ascii_lowercase()),
        }
    }

    /// The claim document's kind and id, and the index name and key in its body.
    fn id(self) -> (DocKind, Id, &'static str, String) {
        let (kind, index, key) = self.parts();
        (
            kind,
            Id::new_v5(
                &Id::NAMESPACE_OID,
                format!("switchboard-{index}:{key}").as_bytes(),
            ),
            index,
            key,
        )
    }
}

/// Who holds a system-wide key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// The tenant.
    pub tenant: Id,
    /// What holds it: an inventory number, a campaign, a tag.
    pub resource: Id,
}

fn body(index: &str, key: &str, owner: Owner) -> Value {
    json!({"index": index, "key": key, "tenantId": owner.tenant, "resourceId": owner.resource})
}

fn owner_in(body: &Value) -> Option<Owner> {
    let id = |k: &str| body.get(k)?.as_str()?.parse::<Id>().ok();
    Some(Owner {
        tenant: id("tenantId")?,
        resource: id("resourceId")?,
    })
}

/// Claims `key` for `owner`; `false` when someone (anyone) holds it already.
pub async fn claim(store: &dyn Store, key: Key<'_>, owner: Owner) -> Result<bool, StoreError> {
    let (kind, id, index, key) = key.id();
    match store
        .put_doc(
            Doc {
                kind,
                tenant: SYSTEM,
                id,
                version: 0,
                body: body(index, &key, owner),
            },
            None,
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Hands `key` from `from` to `to`; `false` when `from` no longer holds it.
pub async fn reassign(
    store: &dyn Store,
    key: Key<'_>,
    from: Owner,
    to: Owner,
) -> Result<bool, StoreError> {
    let (kind, id, index, key) = key.id();
    let Some(doc) = store.get_doc(kind, SYSTEM, id).await? else {
        return Ok(false);
    };
    if owner_in(&doc.body) != Some(from) {
        return Ok(false);
    }
    match store
        .put_doc(
            Doc {
                kind,
                tenant: SYSTEM,
                id,
                version: 0,
                body: body(index, &key, to),
            },
            Some(doc.version),
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Gives `key` back, if `owner` holds it.
pub async fn release(store: &dyn Store, key: Key<'_>, owner: Owner) -> Result<(), StoreError> {
    let (kind, id, _, _) = key.id();
    if let Some(doc) = store.get_doc(kind, SYSTEM, id).await?
        && owner_in(&doc.body) == Some(owner)
    {
        match store.delete_doc(kind, SYSTEM, id, doc.version).await {
            Ok(()) | Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Who holds `key`, in one read.
pub async fn owner_of(store: &dyn Store, key: Key<'_>) -> Result<Option<Owner>, StoreError> {
    let (kind, id, _, _) = key.id();
    Ok(store
        .get_doc(kind, SYSTEM, id)
        .await?
        .and_then(|d| owner_in(&d.body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_distinct() {
        let n = PhoneNumber::parse("+15550001000").unwrap();
        let (_, a, _, _) = Key::Number(&n).id();
        let (_, b, _, _) = Key::Number(&PhoneNumber::parse("(555) 000-1000").unwrap()).id();
        assert_eq!(a, b);
        let (_, c, _, _) = Key::TagCode("Landing").id();
        let (_, d, _, _) = Key::TagCode("landing").id();
        assert_eq!(c, d);
        assert_ne!(a, c);
    }
}

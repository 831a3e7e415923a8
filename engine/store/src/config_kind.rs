//! [`ConfigKind`]: what every kind of configuration document shares — its
//! store kind, identity, version, decoding and validation — so the engine
//! and the HTTP layer read and check a document one way.

use serde::Serialize;
use serde::de::DeserializeOwned;
use switchboard_model::{
    BlocklistEntry, Buyer, Campaign, Id, ModelError, Number, Pixel, Pool, Publisher, RtbRouter,
    RtbTarget, Tenant, TrackingTag,
};

use crate::{Doc, DocKind, Result, StoreError};

/// A kind of configuration document.
pub trait ConfigKind: Serialize + DeserializeOwned {
    /// Its store kind.
    const KIND: DocKind;
    /// Its id.
    fn id(&self) -> Id;
    /// The tenant it belongs to (a tenant: itself).
    fn tenant(&self) -> Id;
    /// Its version: the stored one, or the one a body states (0: none).
    fn version(&self) -> u64;
    /// Sets the version read from or written to the store.
    fn set_version(&mut self, version: u64);
    /// Checks what the value can tell about itself, listing every problem.
    fn validate(&self) -> std::result::Result<(), ModelError>;

    /// The stored `doc` as a value, with the store's version.
    fn decode(doc: &Doc) -> Result<Self> {
        let mut value = Self::deserialize(&doc.body)
            .map_err(|e| StoreError::Corrupt(format!("{} {}: {e}", doc.kind.as_str(), doc.id)))?;
        value.set_version(doc.version);
        Ok(value)
    }
}

macro_rules! config_kind {
    ($($t:ty => $kind:ident, tenant: $($tenant:ident).+, validate: $validate:expr;)+) => {$(
        impl ConfigKind for $t {
            const KIND: DocKind = DocKind::$kind;
            fn id(&self) -> Id {
                self.id
            }
            fn tenant(&self) -> Id {
                self.$($tenant).+
            }
            fn version(&self) -> u64 {
                self.version
            }
            fn set_version(&mut self, version: u64) {
                self.version = version;
            }
            fn validate(&self) -> std::result::Result<(), ModelError> {
                let check: fn(&$t) -> std::result::Result<(), ModelError> = $validate;
                check(self)
            }
        }
    )+};
}

config_kind! {
    Tenant => Tenant, tenant: id, validate: |_| Ok(());
    Buyer => Buyer, tenant: tenant_id, validate: Buyer::validate;
    Campaign => Campaign, tenant: tenant_id, validate: Campaign::validate;
    Number => Number, tenant: tenant_id, validate: Number::validate;
    Pool => Pool, tenant: tenant_id, validate: Pool::validate;
    RtbTarget => RtbTarget, tenant: tenant_id, validate: RtbTarget::validate;
    RtbRouter => RtbRouter, tenant: tenant_id, validate: RtbRouter::validate;
    TrackingTag => TrackingTag, tenant: tenant_id, validate: TrackingTag::validate;
    BlocklistEntry => BlocklistEntry, tenant: tenant_id, validate: BlocklistEntry::validate;
    Publisher => Publisher, tenant: tenant_id, validate: Publisher::validate;
    Pixel => Pixel, tenant: tenant_id, validate: Pixel::validate;
}

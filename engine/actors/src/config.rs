//! Configuration: writes of tenants, buyers, campaigns and pools (the store
//! first, then the actor that runs on it), the in-memory directories they
//! feed (tenants by account SID, tracking numbers, campaign names, the
//! campaigns behind each pool or router), phone-number claims, and loading
//! it all at start. Every write of every kind goes through a
//! [`ConfigWrite`], which holds the configuration lock: its checks and its
//! write are one step, and what the engine runs follows the store at once.
//! A change an actor must see is applied under that actor's lock, so an
//! actor starting meanwhile cannot miss it.

use std::ops::Deref;
use std::sync::Arc;

use chrono_tz::Tz;
use switchboard_model::{
    BlocklistEntry, Buyer, Campaign, CampaignStatus, Caps, FieldError, GeoFilter, Id, ModelError,
    Number, PhoneNumber, Pool, Publisher, RoutingType, RtbRouter, RtbTarget, Tenant, TrackingTag,
};
use switchboard_routing::Capacity;
use switchboard_store::{ConfigKind, Doc, DocKind, DocPages, StoreError};

use crate::buyer::BuyerMsg;
use crate::campaign::CampaignMsg;
use crate::error::{EngineError, Result};
use crate::pool::{PoolMsg, PoolRoute};
use crate::{Engine, claims, held, supervisor};

/// Documents per store read when loading configuration at start.
const LOAD_PAGE: usize = 1_000;

/// One check-and-write of configuration: the configuration lock, held while
/// this lives. Every configuration write of this node takes one, so the
/// checks a write rests on (a unique name, a number's one holder, what a
/// delete would leave dangling) and the write itself are one step, and a
/// poll of the store ([`Engine::sync_config`]) cannot undo it meanwhile. It
/// reads as the [`Engine`] it locks.
pub struct ConfigWrite<'a> {
    engine: &'a Engine,
    _lock: tokio::sync::MutexGuard<'a, ()>,
}

impl Deref for ConfigWrite<'_> {
    type Target = Engine;
    fn deref(&self) -> &Engine {
        self.engine
    }
}

/// A kind whose checks against other documents are its writer's (the HTTP
/// layer's, under the same [`ConfigWrite`]): [`ConfigWrite::put`] checks
/// only what the value tells of itself. Tenants, buyers and campaigns are
/// checked against what the engine holds, by their own methods.
pub trait CheckedByWriter: ConfigKind {}
impl CheckedByWriter for Number {}
impl CheckedByWriter for Pool {}
impl CheckedByWriter for RtbTarget {}
impl CheckedByWriter for RtbRouter {}
impl CheckedByWriter for TrackingTag {}
impl CheckedByWriter for BlocklistEntry {}
impl CheckedByWriter for Publisher {}
impl CheckedByWriter for switchboard_model::Pixel {}

impl ConfigWrite<'_> {
    /// Validates `value` and stores it over version `expected` (`None`: it
    /// must not exist yet), setting its new version; then runs it where the
    /// engine holds the kind (a pool's actor, an RTB target's bidder).
    pub async fn put<T: CheckedByWriter>(
        &self,
        value: &mut T,
        expected: Option<u64>,
    ) -> Result<()> {
        self.write(value, expected).await?;
        if T::KIND == DocKind::BlocklistEntry {
            self.bump_block_revision().await;
        }
        Ok(())
    }

    /// Creates each of `values` as [`ConfigWrite::put`] does, in order,
    /// stopping at the first that fails; returns how many were stored. A
    /// bulk write (a blocklist import) counts as one change for other nodes.
    pub async fn put_new<T: CheckedByWriter>(&self, values: &mut [T]) -> (usize, Result<()>) {
        let mut stored = 0;
        let mut result = Ok(());
        for value in values.iter_mut() {
            if let Err(e) = self.write(value, None).await {
                result = Err(e);
                break;
            }
            stored += 1;
        }
        if stored > 0 && T::KIND == DocKind::BlocklistEntry {
            self.bump_block_revision().await;
        }
        (stored, result)
    }

    async fn write<T: CheckedByWriter>(&self, value: &mut T, expected: Option<u64>) -> Result<()> {
        value.validate()?;
        let mut doc = doc_of(value)?;
        doc.version = self.inner.store.put_doc(doc.clone(), expected).await?;
        value.set_version(doc.version);
        if let Some(held) = held::Held::of(T::KIND) {
            held.apply(self, &doc).await?;
        }
        Ok(())
    }
    /// Deletes `id` of `tenant` if its version is still `expected`, and
    /// stops running it (a pool's actor ends its leases).
    pub async fn delete<T: CheckedByWriter>(
        &self,
        tenant: Id,
        id: Id,
        expected: u64,
    ) -> Result<()> {
        self.inner
            .store
            .delete_doc(T::KIND, tenant, id, expected)
            .await?;
        if let Some(held) = held::Held::of(T::KIND) {
            held.forget(self, id);
        }
        if T::KIND == DocKind::BlocklistEntry {
            self.bump_block_revision().await;
        }
        Ok(())
    }

    /// Creates or replaces a tenant (`expected`: the version being replaced).
    pub async fn put_tenant(&self, mut tenant: Tenant, expected: Option<u64>) -> Result<Tenant> {
        let mut errors = Vec::new();
        if tenant.name.trim().is_empty() {
            errors.push(FieldError::new("name", "must not be empty"));
        }
        // An empty auth token is allowed (a new tenant has not connected
        // Twilio yet): signature checks refuse every webhook for it.
        if !errors.is_empty() {
            return Err(ModelError::Invalid(errors).into());
        }
        if self
            .inner
            .tenants
            .iter()
            .any(|t| t.id != tenant.id && t.name == tenant.name)
        {
            // Never the other tenant's id: the caller may not know it.
            return Err(EngineError::Reference(format!(
                "tenant name {:?} is taken",
                tenant.name
            )));
        }
        if let Some(sid) = &tenant.twilio_account_sid
            && self
                .inner
                .account_sids
                .get(sid)
                .is_some_and(|o| *o != tenant.id)
        {
            return Err(EngineError::Reference(format!(
                "twilio account {sid} belongs to another tenant"
            )));
        }
        tenant.version = self.put_doc(&tenant, expected).await?;
        self.index_tenant(Arc::new(tenant.clone()));
        Ok(tenant)
    }

    /// Creates or replaces a buyer; its actor picks up the change at once.
    pub async fn put_buyer(&self, mut buyer: Buyer, expected: Option<u64>) -> Result<Buyer> {
        buyer.validate()?;
        if !self.inner.tenants.contains_key(&buyer.tenant_id) {
            return Err(EngineError::Reference(format!(
                "tenant {} does not exist",
                buyer.tenant_id
            )));
        }
        if let Some(old) = self.buyer(buyer.id)
            && old.tenant_id != buyer.tenant_id
        {
            return Err(EngineError::Reference(format!(
                "buyer {} belongs to another tenant",
                buyer.id
            )));
        }
        buyer.version = self.put_doc(&buyer, expected).await?;
        self.apply_buyer(Arc::new(buyer.clone())).await?;
        Ok(buyer)
    }

    /// Creates or replaces a campaign; its actor and the number directory pick up the change at once.
    pub async fn put_campaign(
        &self,
        mut campaign: Campaign,
        expected: Option<u64>,
    ) -> Result<Campaign> {
        campaign.validate()?;
        if !self.inner.tenants.contains_key(&campaign.tenant_id) {
            return Err(EngineError::Reference(format!(
                "tenant {} does not exist",
                campaign.tenant_id
            )));
        }
        let old = self.campaign(campaign.id);
        if old
            .as_ref()
            .is_some_and(|o| o.tenant_id != campaign.tenant_id)
        {
            return Err(EngineError::Reference(format!(
                "campaign {} belongs to another tenant",
                campaign.id
            )));
        }
        let mut errors = Vec::new();
        for (i, a) in campaign.buyers.iter().enumerate() {
            if self
                .buyer(a.buyer_id)
                .is_none_or(|b| b.tenant_id != campaign.tenant_id)
            {
                errors.push(FieldError::new(
                    format!("buyers[{i}].buyerId"),
                    format!("buyer {} does not exist", a.buyer_id),
                ));
            }
        }
        // A call has one currency: a payout is in its buyers' revenue's.
        for (i, r) in campaign.payout_rules.iter().enumerate() {
            if let Some(b) = campaign
                .buyers
                .iter()
                .filter_map(|a| self.buyer(a.buyer_id))
                .find(|b| b.tenant_id == campaign.tenant_id && b.currency != r.currency)
            {
                errors.push(FieldError::new(
                    format!("payoutRules[{i}].currency"),
                    format!(
                        "must be {}, the currency of buyer {:?}'s revenue",
                        b.currency, b.name
                    ),
                ));
            }
            if let Some(p) = r.publisher_id
                && self
                    .inner
                    .store
                    .get_doc(DocKind::Publisher, campaign.tenant_id, p)
                    .await?
                    .is_none()
            {
                errors.push(FieldError::new(
                    format!("payoutRules[{i}].publisherId"),
                    format!("publisher {p} does not exist"),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(ModelError::Invalid(errors).into());
        }
        if let Some(n) = &campaign.phone_number
            && let Some(holder) = self
                .inner
                .numbers
                .get(n)
                .map(|h| *h)
                .filter(|h| h.1 != campaign.id)
        {
            // Another tenant's campaign is not named: its existence is all that leaks.
            if holder.0 != campaign.tenant_id {
                return Err(EngineError::Reference(format!(
                    "phone number {n} is already in use"
                )));
            }
            let name = self
                .campaign(holder.1)
                .map(|c| c.name.clone())
                .unwrap_or_default();
            return Err(EngineError::Reference(format!(
                "phone number {n} is already used by campaign {name:?} ({})",
                holder.1
            )));
        }
        if let Some(other) = self
            .inner
            .campaign_names
            .get(&name_key(&campaign))
            .map(|o| *o)
            .filter(|o| *o != campaign.id)
        {
            return Err(EngineError::Reference(format!(
                "campaign name {:?} is taken by campaign {other}",
                campaign.name.trim()
            )));
        }
        let owner = claims::Owner {
            tenant: campaign.tenant_id,
            resource: campaign.id,
        };
        let claimed = match &campaign.phone_number {
            Some(n) => self.claim_number(n, owner).await?,
            None => false,
        };
        let stored = self.put_doc(&campaign, expected).await;
        campaign.version = match stored {
            Ok(v) => v,
            Err(e) => {
                if let (true, Some(n)) = (claimed, &campaign.phone_number) {
                    claims::release(self.inner.store.as_ref(), claims::Key::Number(n), owner)
                        .await?;
                }
                return Err(e);
            }
        };
        if let Some(n) = old
            .as_ref()
            .and_then(|o| o.phone_number.as_ref())
            .filter(|n| campaign.phone_number.as_ref() != Some(*n))
        {
            claims::release(self.inner.store.as_ref(), claims::Key::Number(n), owner).await?;
        }
        self.apply_campaign(Arc::new(campaign.clone())).await?;
        Ok(campaign)
    }

    /// Deletes a buyer of `tenant` (`expected`: the version being deleted;
    /// `None`: whatever is current) and stops its actor. `Ok(false)` when
    /// the tenant has no such buyer. A buyer assigned to an active campaign
    /// is refused, naming the campaigns; inactive campaigns drop the assignment.
    pub async fn delete_buyer(&self, tenant: Id, id: Id, expected: Option<u64>) -> Result<bool> {
        let Some(buyer) = self.buyer(id).filter(|b| b.tenant_id == tenant) else {
            return Ok(false);
        };
        let mut users: Vec<String> = self
            .inner
            .registry
            .campaign_configs
            .iter()
            .filter(|c| {
                c.tenant_id == tenant
                    && c.status == CampaignStatus::Active
                    && c.buyers.iter().any(|a| a.buyer_id == id)
            })
            .map(|c| format!("{:?} ({})", c.name, c.id))
            .collect();
        if !users.is_empty() {
            users.sort();
            return Err(EngineError::Reference(format!(
                "buyer is assigned to active campaign(s) {}",
                users.join(", ")
            )));
        }
        let expected = expected.unwrap_or(buyer.version);
        if expected != buyer.version {
            return Err(StoreError::Conflict {
                expected: Some(expected),
                found: Some(buyer.version),
            }
            .into());
        }
        // Inactive campaigns forget the buyer, so they stay valid to edit and activate.
        let holders: Vec<Arc<Campaign>> = self
            .inner
            .registry
            .campaign_configs
            .iter()
            .filter(|c| c.tenant_id == tenant && c.buyers.iter().any(|a| a.buyer_id == id))
            .map(|c| c.clone())
            .collect();
        for old in holders {
            let mut c = (*old).clone();
            c.buyers.retain(|a| a.buyer_id != id);
            c.version = self.put_doc(&c, Some(c.version)).await?;
            self.update_campaign(Arc::new(c)).await;
        }
        self.inner
            .store
            .delete_doc(DocKind::Buyer, tenant, id, expected)
            .await?;
        self.forget_buyer(id);
        Ok(true)
    }

    /// Deletes a campaign of `tenant` (`expected` as for [`Engine::delete_buyer`]),
    /// stops its actor and frees its number: calls to it are then not in
    /// service. `Ok(false)` when the tenant has no such campaign.
    pub async fn delete_campaign(&self, tenant: Id, id: Id, expected: Option<u64>) -> Result<bool> {
        let Some(campaign) = self.campaign(id).filter(|c| c.tenant_id == tenant) else {
            return Ok(false);
        };
        self.inner
            .store
            .delete_doc(
                DocKind::Campaign,
                tenant,
                id,
                expected.unwrap_or(campaign.version),
            )
            .await?;
        self.forget_campaign(&campaign);
        if let Some(n) = &campaign.phone_number {
            claims::release(
                self.inner.store.as_ref(),
                claims::Key::Number(n),
                claims::Owner {
                    tenant,
                    resource: id,
                },
            )
            .await?;
        }
        Ok(true)
    }
}

impl Engine {
    /// Takes the configuration lock for one check-and-write.
    pub async fn config_write(&self) -> ConfigWrite<'_> {
        ConfigWrite {
            engine: self,
            _lock: self.inner.config_lock.lock().await,
        }
    }

    /// Creates or replaces a tenant ([`ConfigWrite::put_tenant`]).
    pub async fn put_tenant(&self, tenant: Tenant, expected: Option<u64>) -> Result<Tenant> {
        self.config_write().await.put_tenant(tenant, expected).await
    }

    /// Creates or replaces a buyer ([`ConfigWrite::put_buyer`]).
    pub async fn put_buyer(&self, buyer: Buyer, expected: Option<u64>) -> Result<Buyer> {
        self.config_write().await.put_buyer(buyer, expected).await
    }

    /// Creates or replaces a campaign ([`ConfigWrite::put_campaign`]).
    pub async fn put_campaign(
        &self,
        campaign: Campaign,
        expected: Option<u64>,
    ) -> Result<Campaign> {
        self.config_write()
            .await
            .put_campaign(campaign, expected)
            .await
    }

    /// Deletes a buyer ([`ConfigWrite::delete_buyer`]).
    pub async fn delete_buyer(&self, tenant: Id, id: Id, expected: Option<u64>) -> Result<bool> {
        self.config_write()
            .await
            .delete_buyer(tenant, id, expected)
            .await
    }

    /// Deletes a campaign ([`ConfigWrite::delete_campaign`]).
    pub async fn delete_campaign(&self, tenant: Id, id: Id, expected: Option<u64>) -> Result<bool> {
        self.config_write()
            .await
            .delete_campaign(tenant, id, expected)
            .await
    }

    /// Loads the configuration from the store (at start): configurations
    /// only, except pools, whose actors start now; then claims the numbers
    /// of campaigns saved before numbers were claimed.
    pub(crate) async fn load_config(&self) -> Result<()> {
        let store = self.inner.store.as_ref();
        // Read before the entries: a write counted after it is read again.
        let revision = self.stored_block_revision().await?;
        for held in held::ORDER {
            // A page at a time, so the JSON held at once is one page, not a kind.
            let mut pages = DocPages::new(store, held.kind(), None, LOAD_PAGE);
            while let Some(docs) = pages.next_page().await? {
                // Index documents of system-wide keys live in the nil tenant slot.
                for doc in docs.iter().filter(|d| !d.tenant.is_nil()) {
                    held.apply(self, doc).await?;
                }
            }
        }
        self.block_read(revision);
        self.claim_campaign_numbers().await?;
        Ok(())
    }

    /// The tenant owning a tracking number.
    pub fn tenant_by_number(&self, to: &PhoneNumber) -> Option<Arc<Tenant>> {
        let tenant = match self.inner.numbers.get(to) {
            Some(r) => r.0,
            None => self.inner.pool_numbers.get(to)?.tenant,
        };
        self.tenant(tenant)
    }

    /// The tenant with a Twilio account SID.
    pub fn tenant_by_account_sid(&self, account_sid: &str) -> Option<Arc<Tenant>> {
        let tenant = *self.inner.account_sids.get(account_sid)?;
        self.tenant(tenant)
    }

    /// A tenant by id.
    pub fn tenant(&self, id: Id) -> Option<Arc<Tenant>> {
        self.inner.tenants.get(&id).map(|t| t.clone())
    }

    /// Every tenant.
    pub fn tenants(&self) -> Vec<Arc<Tenant>> {
        self.inner.tenants.iter().map(|t| t.clone()).collect()
    }

    /// A buyer's configuration.
    pub fn buyer(&self, id: Id) -> Option<Arc<Buyer>> {
        self.inner
            .registry
            .buyer_configs
            .get(&id)
            .map(|b| b.clone())
    }

    /// A campaign's configuration.
    pub fn campaign(&self, id: Id) -> Option<Arc<Campaign>> {
        self.inner
            .registry
            .campaign_configs
            .get(&id)
            .map(|c| c.clone())
    }

    pub(crate) fn index_tenant(&self, tenant: Arc<Tenant>) {
        let old = self.inner.tenants.insert(tenant.id, tenant.clone());
        if let Some(sid) = old.as_ref().and_then(|o| o.twilio_account_sid.as_ref()) {
            self.inner.account_sids.remove(sid);
        }
        // Its publishers' caps count in its zone.
        if old.is_some_and(|o| o.timezone != tenant.timezone) {
            let mine: Vec<Arc<Publisher>> = self
                .inner
                .registry
                .publisher_configs
                .iter()
                .filter(|p| p.tenant_id == tenant.id)
                .map(|p| p.clone())
                .collect();
            for p in mine {
                self.profile_publisher(&p);
            }
        }
        if let Some(sid) = &tenant.twilio_account_sid {
            self.inner.account_sids.insert(sid.clone(), tenant.id);
        }
    }

    fn index_campaign(&self, campaign: &Campaign, old: Option<&Campaign>) {
        if let Some(old) = old {
            self.unindex_campaign(old);
        }
        if let Some(n) = &campaign.phone_number {
            self.inner
                .numbers
                .insert(n.clone(), (campaign.tenant_id, campaign.id));
        }
        self.inner
            .campaign_names
            .insert(name_key(campaign), campaign.id);
        if let Some(source) = source_of(campaign) {
            let mut ids = self.inner.campaigns_by_source.entry(source).or_default();
            if !ids.contains(&campaign.id) {
                ids.push(campaign.id);
            }
        }
    }

    /// The campaigns of `tenant` whose routing goes through pool or router `source`.
    pub(crate) fn campaigns_through(&self, tenant: Id, source: Id) -> Vec<Arc<Campaign>> {
        let ids = self
            .inner
            .campaigns_by_source
            .get(&source)
            .map(|ids| ids.clone())
            .unwrap_or_default();
        ids.iter()
            .filter_map(|id| self.campaign(*id))
            .filter(|c| c.tenant_id == tenant && source_of(c) == Some(source))
            .collect()
    }

    fn unindex_campaign(&self, campaign: &Campaign) {
        if let Some(n) = &campaign.phone_number {
            self.inner
                .numbers
                .remove_if(n, |_, holder| holder.1 == campaign.id);
        }
        self.inner
            .campaign_names
            .remove_if(&name_key(campaign), |_, id| *id == campaign.id);
        if let Some(source) = source_of(campaign) {
            self.inner.campaigns_by_source.alter(&source, |_, mut ids| {
                ids.retain(|id| *id != campaign.id);
                ids
            });
            self.inner
                .campaigns_by_source
                .remove_if(&source, |_, ids| ids.is_empty());
        }
    }

    /// Makes a stored buyer the one routing sees: its actor, if started,
    /// takes the new configuration; else the actor reads it when it starts.
    /// Under the buyer's lock, so an actor starting now cannot miss it.
    pub(crate) async fn apply_buyer(&self, config: Arc<Buyer>) -> Result<()> {
        let _held = self.inner.registry.lock(config.id).await;
        self.inner
            .registry
            .buyer_configs
            .insert(config.id, config.clone());
        if let Some(actor) = self
            .inner
            .registry
            .buyers
            .get(&config.id)
            .map(|a| a.clone())
        {
            let _ = actor.cast(BuyerMsg::Update(Arc::new(config.as_ref().into())));
        }
        Ok(())
    }

    /// Forgets a deleted buyer and stops its actor.
    pub(crate) fn forget_buyer(&self, id: Id) {
        self.inner.registry.buyer_configs.remove(&id);
        if let Some((_, actor)) = self.inner.registry.buyers.remove(&id) {
            self.inner.registry.children.remove(&actor.get_id());
            actor.stop(None);
        }
    }

    /// Makes sure phone number `n` is `owner`'s tenant's: claimed by the
    /// tenant already (its inventory, or this campaign), or claimed now for
    /// `owner`. Another tenant's number is refused without naming it.
    /// `Ok(true)`: claimed by this call (to release if the write fails).
    async fn claim_number(&self, n: &PhoneNumber, owner: claims::Owner) -> Result<bool> {
        let store = self.inner.store.as_ref();
        let key = claims::Key::Number(n);
        let taken = || EngineError::Reference(format!("phone number {n} is already in use"));
        match claims::owner_of(store, key).await? {
            Some(o) if o.tenant != owner.tenant => Err(taken()),
            Some(_) => Ok(false),
            None if claims::claim(store, key, owner).await? => Ok(true),
            // Another claimant came first: fine only if it is this tenant.
            None => match claims::owner_of(store, key).await? {
                Some(o) if o.tenant != owner.tenant => Err(taken()),
                _ => Ok(false),
            },
        }
    }

    /// Claims the direct number of every stored campaign that has none yet
    /// (campaigns saved before numbers were claimed for them). A number
    /// another tenant holds already is left as it is and logged.
    async fn claim_campaign_numbers(&self) -> Result<()> {
        let campaigns: Vec<Arc<Campaign>> = self
            .inner
            .registry
            .campaign_configs
            .iter()
            .map(|c| c.value().clone())
            .collect();
        for c in campaigns {
            let Some(n) = &c.phone_number else { continue };
            let owner = claims::Owner {
                tenant: c.tenant_id,
                resource: c.id,
            };
            if let Err(e) = self.claim_number(n, owner).await {
                tracing::warn!(campaign = %c.id, number = %n, error = %e, "a campaign's number is held by another tenant");
            }
        }
        Ok(())
    }

    /// Makes a stored campaign the one routing sees: the number directory
    /// and its actor, if started, take the new configuration; else the
    /// actor reads it when its first call starts it.
    pub(crate) async fn apply_campaign(&self, config: Arc<Campaign>) -> Result<()> {
        let old = self.campaign(config.id);
        self.index_campaign(&config, old.as_deref());
        self.update_campaign(config).await;
        Ok(())
    }

    /// A campaign's new configuration, for its actor if started (under its
    /// lock, like [`Engine::apply_buyer`]).
    async fn update_campaign(&self, config: Arc<Campaign>) {
        let _held = self.inner.registry.lock(config.id).await;
        self.inner
            .registry
            .campaign_configs
            .insert(config.id, config.clone());
        if let Some(actor) = self
            .inner
            .registry
            .campaigns
            .get(&config.id)
            .map(|a| a.clone())
        {
            let _ = actor.cast(CampaignMsg::Update(config));
        }
    }

    /// Forgets a deleted campaign: its number is no longer in service.
    pub(crate) fn forget_campaign(&self, campaign: &Campaign) {
        self.unindex_campaign(campaign);
        self.inner.registry.campaign_configs.remove(&campaign.id);
        if let Some((_, actor)) = self.inner.registry.campaigns.remove(&campaign.id) {
            self.inner.registry.children.remove(&actor.get_id());
            actor.stop(None);
        }
    }

    /// Writes a configuration document under its own kind, tenant and id.
    async fn put_doc<T: ConfigKind>(&self, value: &T, expected: Option<u64>) -> Result<u64> {
        Ok(self.inner.store.put_doc(doc_of(value)?, expected).await?)
    }

    /// Makes a stored publisher's caps the ones its calls are held to (under
    /// its lock, like [`Engine::apply_buyer`]).
    pub(crate) async fn apply_publisher(&self, publisher: Arc<Publisher>) {
        let reg = &self.inner.registry;
        let _held = reg.lock(publisher.id).await;
        reg.publisher_configs
            .insert(publisher.id, publisher.clone());
        self.profile_publisher(&publisher);
    }

    /// A publisher's capacity profile, in its tenant's zone, for the buyer
    /// actor that counts its calls (told at once if it runs). A publisher
    /// without caps has none, and its actor stops.
    fn profile_publisher(&self, p: &Publisher) {
        let reg = &self.inner.registry;
        let caps = p.caps();
        if caps == Caps::default() {
            reg.publisher_profiles.remove(&p.id);
            self.stop_capacity_actor(p.id);
            return;
        }
        let timezone = self.tenant(p.tenant_id).map_or(Tz::UTC, |t| t.timezone);
        let profile = Arc::new(Capacity {
            id: p.id,
            active: true,
            timezone,
            caps,
            schedule: None,
            geo: GeoFilter::default(),
            filters: Vec::new(),
        });
        reg.publisher_profiles.insert(p.id, profile.clone());
        if let Some(actor) = reg.buyers.get(&p.id).map(|a| a.clone()) {
            let _ = actor.cast(BuyerMsg::Update(profile));
        }
    }

    /// Forgets a deleted publisher: its caps, and the actor counting them.
    pub(crate) fn forget_publisher(&self, id: Id) {
        let reg = &self.inner.registry;
        reg.publisher_configs.remove(&id);
        reg.publisher_profiles.remove(&id);
        self.stop_capacity_actor(id);
    }

    fn stop_capacity_actor(&self, id: Id) {
        let reg = &self.inner.registry;
        if let Some((_, actor)) = reg.buyers.remove(&id) {
            reg.children.remove(&actor.get_id());
            actor.stop(None);
        }
    }

    /// Publisher `id`'s sub id (for trackers), if it has one.
    pub(crate) fn publisher_sub_id(&self, id: Id) -> Option<String> {
        self.inner
            .registry
            .publisher_configs
            .get(&id)
            .and_then(|p| p.sub_id.clone())
    }

    /// Tags a call of publisher `p`: `publisherId` and `publisherSubId`, over
    /// anything a ping sent, but not over the campaign's `fixed` tags, which
    /// keep their own.
    pub(crate) fn tag_publisher(
        &self,
        p: Id,
        tags: &mut switchboard_model::CallTags,
        fixed: &std::collections::BTreeMap<String, String>,
    ) {
        for (name, value) in [
            ("publisherId", Some(p.to_string())),
            ("publisherSubId", self.publisher_sub_id(p)),
        ] {
            if let Some(v) = value.filter(|_| !fixed.contains_key(name)) {
                tags.insert(name.to_owned(), v);
            }
        }
    }

    /// Whether publisher `id` is paused (its calls are refused).
    pub(crate) fn publisher_paused(&self, id: Id) -> bool {
        self.inner
            .registry
            .publisher_configs
            .get(&id)
            .is_some_and(|p| p.status == switchboard_model::publisher::PublisherStatus::Paused)
    }

    /// Whether publisher `id` has caps its calls are counted against.
    pub(crate) fn publisher_capped(&self, id: Id) -> bool {
        self.inner.registry.publisher_profiles.contains_key(&id)
    }

    /// Indexes a stored inventory number: its publisher, for the call path.
    pub(crate) fn index_number(&self, number: Arc<Number>) {
        self.unindex_number(number.id);
        if let Some(p) = number.publisher_id {
            self.inner
                .number_publishers
                .insert(number.phone_number.clone(), (number.tenant_id, p));
        }
        self.inner.inventory.insert(number.id, number);
    }

    /// Forgets a deleted (or replaced) inventory number.
    pub(crate) fn unindex_number(&self, id: Id) {
        if let Some((_, old)) = self.inner.inventory.remove(&id) {
            self.inner.number_publishers.remove(&old.phone_number);
        }
    }

    /// The publisher of tenant's inventory number `n`, if it has one.
    pub(crate) fn number_publisher(&self, tenant: Id, n: &PhoneNumber) -> Option<Id> {
        self.inner
            .number_publishers
            .get(n)
            .filter(|e| e.0 == tenant)
            .map(|e| e.1)
    }

    /// Starts (or updates) the actor of a stored pool, and indexes its
    /// numbers so calls to them route through the pool's campaign.
    pub(crate) async fn apply_pool(&self, pool: Pool) -> Result<()> {
        let pool = Arc::new(pool);
        let reg = &self.inner.registry;
        if let Some(old) = reg.pool_configs.insert(pool.id, pool.clone()) {
            for n in &old.numbers {
                self.inner
                    .pool_numbers
                    .remove_if(n, |_, r| r.pool == old.id);
            }
        }
        for n in &pool.numbers {
            self.inner.pool_numbers.insert(
                n.clone(),
                PoolRoute {
                    tenant: pool.tenant_id,
                    pool: pool.id,
                },
            );
        }
        match reg.pools.get(&pool.id).map(|a| a.clone()) {
            Some(actor) => {
                let _ = actor.cast(PoolMsg::Update(pool));
                Ok(())
            }
            None => supervisor::spawn_pool(&self.inner.capacity, pool).await,
        }
    }

    /// Stops a deleted pool's actor (its leases end) and forgets its numbers.
    pub(crate) fn forget_pool(&self, id: Id) {
        let reg = &self.inner.registry;
        if let Some((_, old)) = reg.pool_configs.remove(&id) {
            for n in &old.numbers {
                self.inner.pool_numbers.remove_if(n, |_, r| r.pool == id);
            }
        }
        if let Some((_, actor)) = reg.pools.remove(&id) {
            reg.children.remove(&actor.get_id());
            actor.stop(None);
        }
    }

    /// A pool's configuration as the engine knows it.
    pub fn pool(&self, id: Id) -> Option<Arc<Pool>> {
        self.inner.registry.pool_configs.get(&id).map(|p| p.clone())
    }
}

/// `value` as the document of its own kind, tenant and id.
pub(crate) fn doc_of<T: ConfigKind>(value: &T) -> Result<Doc> {
    let body = serde_json::to_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Doc {
        kind: T::KIND,
        tenant: value.tenant(),
        id: value.id(),
        version: 0,
        body,
    })
}

/// The pool (pool routing) or RTB router (RTB routing) a campaign's calls go through.
fn source_of(campaign: &Campaign) -> Option<Id> {
    match campaign.routing_type {
        RoutingType::Pool => campaign.pool_id,
        RoutingType::Rtb => campaign.rtb_router_id,
        RoutingType::Direct => None,
    }
}

/// The key that makes campaign names unique per tenant: trimmed, case folded.
fn name_key(campaign: &Campaign) -> (Id, String) {
    (campaign.tenant_id, campaign.name.trim().to_lowercase())
}

//! Users, login sessions and API keys, kept as store documents.
//!
//! Usernames are unique across the system (login names no tenant), so user
//! documents live in the system namespace ([`SYSTEM`]) keyed by a hash of
//! the lowercased name, and carry their tenant. Sessions and API keys are
//! keyed by a SHA-256 of their secret: the store never holds a secret, and a
//! lookup is one read. Passwords are argon2id.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use switchboard_model::{Id, Role};
use switchboard_store::{Doc, DocKind, Store, StoreError};

use crate::error::ApiError;

/// The tenant slot of documents that belong to no tenant's namespace
/// (users, sessions, API keys); each body names its real tenant.
pub(crate) const SYSTEM: Id = switchboard_engine::claims::SYSTEM;

/// How long a login session lives.
pub(crate) const SESSION_TTL: Duration = Duration::days(7);

/// A console user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct User {
    pub(crate) id: Id,
    pub(crate) tenant_id: Id,
    pub(crate) username: String,
    /// PHC string, argon2id.
    pub(crate) password_hash: String,
    pub(crate) role: Role,
    /// The publisher a `publisher` user sees (set with that role only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) publisher_id: Option<Id>,
    pub(crate) created_at: DateTime<Utc>,
    #[serde(default)]
    pub(crate) version: u64,
}

/// A login session; the cookie holds its secret, the store its hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Session {
    pub(crate) id: Id,
    pub(crate) tenant_id: Id,
    pub(crate) user_id: Id,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) expires_at: DateTime<Utc>,
}

/// A machine credential, shown once at creation, stored hashed.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiKey {
    #[schema(value_type = String, format = Uuid)]
    pub(crate) id: Id,
    #[schema(value_type = String, format = Uuid)]
    pub(crate) tenant_id: Id,
    pub(crate) name: String,
    pub(crate) role: Role,
    /// The first characters of the secret, to tell keys apart in a list.
    pub(crate) prefix: String,
    pub(crate) created_by: String,
    pub(crate) created_at: DateTime<Utc>,
    /// The publisher the key sends traffic for: its RTB pings, and the
    /// calls that follow them, are attributed to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub(crate) publisher_id: Option<Id>,
}

/// An API key as stored: the key, and the user it acts for (the user who
/// made it, or the user of the key that made it), so that deleting the user
/// revokes it. Read as a plain [`ApiKey`], the extra field is ignored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredKey {
    #[serde(flatten)]
    key: ApiKey,
    /// `None` on keys stored before keys had owners: those are matched by `createdBy`.
    #[serde(default)]
    owner_user_id: Option<Id>,
}

/// The id of a user document: usernames compare case-insensitively.
pub(crate) fn user_id(username: &str) -> Id {
    Id::new_v5(
        &Id::NAMESPACE_OID,
        format!("switchboard-user:{}", username.trim().to_lowercase()).as_bytes(),
    )
}

/// The id under which a secret (session token, API key) is stored.
pub(crate) fn secret_id(secret: &str) -> Id {
    let digest = Sha256::digest(secret.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Id::from_bytes(bytes)
}

/// A fresh random secret: 32 bytes, URL-safe base64, with a prefix saying what it is.
pub(crate) fn new_secret(prefix: &str) -> String {
    let bytes: [u8; 32] = rand::random();
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The argon2 parameters of new hashes: argon2id (v19) with OWASP's
/// recommended minimum, 19 MiB of memory, 2 iterations, 1 lane. Every hash
/// in progress holds its 19 MiB, which is why [`HASHERS`] bounds how many run.
/// (A stored hash is verified with the parameters written in it.)
pub(crate) const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
/// Argon2 iterations (time cost).
pub(crate) const ARGON2_ITERATIONS: u32 = 2;
/// Argon2 lanes (parallelism).
pub(crate) const ARGON2_LANES: u32 = 1;

fn params() -> Params {
    // Constants within argon2's bounds: `Params::new` cannot fail.
    Params::new(ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_LANES, None).unwrap_or_default()
}

thread_local! {
    /// This thread's argon2 memory, allocated once and reused by every hash
    /// it runs. Left to argon2, each hash allocates (64-byte aligned) and
    /// frees its 19 MiB, and glibc keeps much of what was freed: 200 logins,
    /// two at a time, left 0.3 GB resident (0.9 GB spread over the blocking
    /// pool's threads). Reused, it stays at the hashers' count of 19 MiB.
    static BLOCKS: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// argon2 with `params` into `out`, in this thread's reused memory.
fn argon2_into(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> argon2::Result<()> {
    let count = params.block_count();
    BLOCKS.with_borrow_mut(|blocks| {
        if blocks.len() < count {
            blocks.resize(count, Block::new());
        }
        Argon2::new(algorithm, version, params).hash_password_into_with_memory(
            password,
            salt,
            out,
            &mut blocks[..count],
        )
    })
}

/// Hashes a password with argon2id and a random salt, as a PHC string.
pub(crate) fn hash_password(password: &str) -> Result<String, ApiError> {
    let failed = |e: &dyn std::fmt::Display| {
        ApiError::Store(StoreError::Backend(format!("password hashing failed: {e}")))
    };
    let salt: [u8; 16] = rand::random();
    let mut out = [0u8; 32];
    argon2_into(
        Algorithm::Argon2id,
        Version::V0x13,
        params(),
        password.as_bytes(),
        &salt,
        &mut out,
    )
    .map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params()).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the stored PHC hash (checked with the
/// algorithm and parameters written in it).
pub(crate) fn verify_password(hash: &str, password: &str) -> bool {
    let Ok(hash) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm.as_str()) else {
        return false;
    };
    let Ok(version) = hash
        .version
        .map_or(Ok(Version::default()), Version::try_from)
    else {
        return false;
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    argon2_into(
        algorithm,
        version,
        params,
        password.as_bytes(),
        salt.as_ref(),
        &mut out,
    )
    .is_ok()
        && bool::from(out.ct_eq(expected.as_bytes()))
}

/// A hash to verify against when the user does not exist, so that a login
/// for an unknown name costs as much as a wrong password. Made on first use,
/// on a hasher (it is a hash like any other).
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password, never valid").unwrap_or_default())
}

/// At most this many hashes wait for a hasher; past that a request is
/// refused with 503 and `Retry-After`.
pub(crate) const HASH_QUEUE: usize = 64;

type HashJob = Box<dyn FnOnce() + Send>;

/// The process's password hashers: one thread per core, each running one
/// hash at a time, fed from a queue of at most [`HASH_QUEUE`] hashes. Every
/// hash holds argon2's memory, so this bounds what a burst of logins or
/// signups costs: a core's count of [`ARGON2_MEMORY_KIB`], each hasher
/// keeping its own for the next hash ([`BLOCKS`]).
static HASHERS: std::sync::LazyLock<std::sync::mpsc::SyncSender<HashJob>> =
    std::sync::LazyLock::new(|| {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let (tx, rx) = std::sync::mpsc::sync_channel::<HashJob>(HASH_QUEUE);
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..cores {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-hasher-{i}"))
                .spawn(move || {
                    loop {
                        // Held only while waiting: the job runs after the guard is gone.
                        let next = rx
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv();
                        let Ok(job) = next else { return };
                        // A panicking hash fails its request (its reply is dropped), not the hasher.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        tx
    });

/// Runs `work` (a hash) on one of the [`HASHERS`], off the async workers.
async fn on_a_hasher<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: HashJob = Box::new(move || {
        let _ = tx.send(work());
    });
    HASHERS.try_send(job).map_err(|e| match e {
        std::sync::mpsc::TrySendError::Full(_) => {
            ApiError::Busy("too many passwords are being checked at once, retry in a second".into())
        }
        std::sync::mpsc::TrySendError::Disconnected(_) => ApiError::Store(StoreError::Backend(
            "no password hashing thread is running".into(),
        )),
    })?;
    rx.await
        .map_err(|_| ApiError::Store(StoreError::Backend("password hashing failed".into())))
}

/// Reads a system-namespace document and decodes it.
pub(crate) async fn get<T: DeserializeOwned>(
    store: &dyn Store,
    kind: DocKind,
    id: Id,
) -> Result<Option<(T, u64)>, ApiError> {
    let Some(doc) = store.get_doc(kind, SYSTEM, id).await? else {
        return Ok(None);
    };
    let v = serde_json::from_value(doc.body)
        .map_err(|e| StoreError::Corrupt(format!("{} {id}: {e}", kind.as_str())))?;
    Ok(Some((v, doc.version)))
}

/// Writes a system-namespace document if its version is `expected`.
pub(crate) async fn put<T: Serialize>(
    store: &dyn Store,
    kind: DocKind,
    id: Id,
    value: &T,
    expected: Option<u64>,
) -> Result<u64, ApiError> {
    let body = serde_json::to_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(store
        .put_doc(
            Doc {
                kind,
                tenant: SYSTEM,
                id,
                version: 0,
                body,
            },
            expected,
        )
        .await?)
}

/// The shortest password accepted.
pub(crate) const MIN_PASSWORD: usize = 8;

/// What is wrong with a new username and password, as field errors.
pub(crate) fn check_credentials(
    username: &str,
    password: &str,
) -> Vec<switchboard_model::FieldError> {
    let mut fields = check_username(username);
    if password.chars().count() < MIN_PASSWORD {
        fields.push(switchboard_model::FieldError::new(
            "password",
            "must be at least 8 characters",
        ));
    }
    fields
}

fn check_username(username: &str) -> Vec<switchboard_model::FieldError> {
    let username = username.trim();
    if username.is_empty()
        || username.len() > 64
        || username
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        vec![switchboard_model::FieldError::new(
            "username",
            "must be 1 to 64 characters without spaces",
        )]
    } else {
        Vec::new()
    }
}

/// Creates a user (a `publisher` one bound to `publisher_id`); a bad
/// username or a short password is a 422, a taken username a 409.
pub(crate) async fn create_user(
    store: &dyn Store,
    tenant_id: Id,
    username: &str,
    password: &str,
    role: Role,
    publisher_id: Option<Id>,
) -> Result<User, ApiError> {
    let fields = check_credentials(username, password);
    if !fields.is_empty() {
        return Err(ApiError::Invalid(fields));
    }
    insert_user(store, tenant_id, username, password, role, publisher_id).await
}

/// The `serve --demo` user, `demo` / `demo`: the one account allowed a
/// short password, and only through this path (never through the API).
pub(crate) async fn create_demo_user(store: &dyn Store, tenant_id: Id) -> Result<User, ApiError> {
    insert_user(store, tenant_id, "demo", "demo", Role::Owner, None).await
}

async fn insert_user(
    store: &dyn Store,
    tenant_id: Id,
    username: &str,
    password: &str,
    role: Role,
    publisher_id: Option<Id>,
) -> Result<User, ApiError> {
    let fields = check_username(username);
    if !fields.is_empty() {
        return Err(ApiError::Invalid(fields));
    }
    let password_hash = hash_password_blocking(password).await?;
    insert_hashed(
        store,
        tenant_id,
        username,
        password_hash,
        role,
        publisher_id,
    )
    .await
}

/// Stores a new user whose (checked) username and password hash are given;
/// a taken username is a 409.
pub(crate) async fn insert_hashed(
    store: &dyn Store,
    tenant_id: Id,
    username: &str,
    password_hash: String,
    role: Role,
    publisher_id: Option<Id>,
) -> Result<User, ApiError> {
    let username = username.trim();
    let id = user_id(username);
    let mut user = User {
        id,
        tenant_id,
        username: username.to_owned(),
        password_hash,
        role,
        publisher_id,
        created_at: Utc::now(),
        version: 0,
    };
    user.version = match put(store, DocKind::User, id, &user, None).await {
        Err(ApiError::Store(StoreError::Conflict { .. })) => {
            return Err(ApiError::Conflict(format!(
                "username {username:?} is taken"
            )));
        }
        other => other?,
    };
    Ok(user)
}

/// Hashes a password on a hasher thread (argon2 is deliberately slow).
pub(crate) async fn hash_password_blocking(password: &str) -> Result<String, ApiError> {
    let owned = password.to_owned();
    on_a_hasher(move || hash_password(&owned)).await?
}

/// Verifies a password on a hasher thread against `hash`, or against a
/// decoy when there is no user (`None`) so that an unknown name costs as
/// much as a wrong password. `Err` when the hashers' queue is full: the
/// password was not checked.
pub(crate) async fn verify_password_blocking(
    hash: Option<&str>,
    password: &str,
) -> Result<bool, ApiError> {
    let (hash, password) = (hash.map(str::to_owned), password.to_owned());
    on_a_hasher(move || {
        let ok = verify_password(hash.as_deref().unwrap_or_else(|| decoy_hash()), &password);
        ok && hash.is_some()
    })
    .await
}

/// Replaces `user`'s password (at least 8 characters) if the user document
/// is still at `user.version`; returns the new version.
pub(crate) async fn set_password(
    store: &dyn Store,
    user: &mut User,
    password: &str,
) -> Result<(), ApiError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(ApiError::Invalid(vec![switchboard_model::FieldError::new(
            "password",
            "must be at least 8 characters",
        )]));
    }
    user.password_hash = hash_password_blocking(password).await?;
    user.version = put(store, DocKind::User, user.id, &*user, Some(user.version)).await?;
    Ok(())
}

/// Every system-namespace document of `kind`, decoded, with its version.
/// Unreadable documents are skipped with a warning rather than failing a list.
pub(crate) async fn all<T: DeserializeOwned>(
    store: &dyn Store,
    kind: DocKind,
) -> Result<Vec<(T, u64)>, ApiError> {
    Ok(store
        .list_docs(kind, Some(SYSTEM))
        .await?
        .into_iter()
        .filter_map(|d| match serde_json::from_value(d.body) {
            Ok(v) => Some((v, d.version)),
            Err(e) => {
                tracing::warn!(kind = kind.as_str(), id = %d.id, error = %e, "skipping an unreadable document");
                None
            }
        })
        .collect())
}

/// The users of a tenant.
pub(crate) async fn users_of(store: &dyn Store, tenant_id: Id) -> Result<Vec<User>, ApiError> {
    Ok(all::<User>(store, DocKind::User)
        .await?
        .into_iter()
        .filter(|(u, _)| u.tenant_id == tenant_id)
        .map(|(mut u, v)| {
            u.version = v;
            u
        })
        .collect())
}

/// A user of `tenant_id` by id; another tenant's user is `None`.
pub(crate) async fn user_in(
    store: &dyn Store,
    tenant_id: Id,
    id: Id,
) -> Result<Option<User>, ApiError> {
    Ok(get::<User>(store, DocKind::User, id)
        .await?
        .filter(|(u, _)| u.tenant_id == tenant_id)
        .map(|(mut u, v)| {
            u.version = v;
            u
        }))
}

/// The live sessions of a user; expired ones met on the way are removed.
pub(crate) async fn sessions_of(store: &dyn Store, user_id: Id) -> Result<Vec<Session>, ApiError> {
    let now = Utc::now();
    let mut live = Vec::new();
    for (s, _) in all::<Session>(store, DocKind::Session).await? {
        if s.user_id != user_id {
            continue;
        }
        if s.expires_at > now {
            live.push(s);
        } else {
            end_session(store, s.id).await?;
        }
    }
    Ok(live)
}

/// Ends every session of a user (deleted, or signed out everywhere).
pub(crate) async fn end_sessions_of(store: &dyn Store, user_id: Id) -> Result<(), ApiError> {
    for s in sessions_of(store, user_id).await? {
        end_session(store, s.id).await?;
    }
    Ok(())
}

/// The user an API key acts for (see [`StoredKey`]), if it has one.
pub(crate) async fn key_owner(store: &dyn Store, key_id: Id) -> Result<Option<Id>, ApiError> {
    Ok(get::<StoredKey>(store, DocKind::ApiKey, key_id)
        .await?
        .and_then(|(k, _)| k.owner_user_id))
}

/// Revokes every API key that acts for `user` (a deleted user's keys must
/// not outlive them); returns the revoked keys, oldest first.
pub(crate) async fn revoke_keys_of(
    store: &dyn Store,
    user: &User,
) -> Result<Vec<ApiKey>, ApiError> {
    let made_by = format!("user:{}", user.username);
    let mut theirs: Vec<(StoredKey, u64)> = all::<StoredKey>(store, DocKind::ApiKey)
        .await?
        .into_iter()
        .filter(|(k, _)| k.key.tenant_id == user.tenant_id)
        .filter(|(k, _)| {
            k.owner_user_id
                .map_or(k.key.created_by == made_by, |o| o == user.id)
        })
        .collect();
    theirs.sort_by_key(|(k, _)| k.key.created_at);
    let mut revoked = Vec::with_capacity(theirs.len());
    for (k, version) in theirs {
        match store
            .delete_doc(DocKind::ApiKey, SYSTEM, k.key.id, version)
            .await
        {
            // Revoked concurrently: gone either way.
            Ok(()) | Err(StoreError::Conflict { .. }) => revoked.push(k.key),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(revoked)
}

/// The API keys of a tenant.
pub(crate) async fn keys_of(store: &dyn Store, tenant_id: Id) -> Result<Vec<ApiKey>, ApiError> {
    Ok(all::<ApiKey>(store, DocKind::ApiKey)
        .await?
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| k.tenant_id == tenant_id)
        .collect())
}

/// A user by login name.
pub(crate) async fn user_by_name(
    store: &dyn Store,
    username: &str,
) -> Result<Option<User>, ApiError> {
    Ok(get::<User>(store, DocKind::User, user_id(username))
        .await?
        .map(|(mut u, v)| {
            u.version = v;
            u
        }))
}

/// Opens a session for `user`; returns the secret for the cookie.
pub(crate) async fn create_session(
    store: &dyn Store,
    user: &User,
) -> Result<(String, Session), ApiError> {
    let token = new_secret("sbs_");
    let now = Utc::now();
    let session = Session {
        id: secret_id(&token),
        tenant_id: user.tenant_id,
        user_id: user.id,
        created_at: now,
        expires_at: now + SESSION_TTL,
    };
    put(store, DocKind::Session, session.id, &session, None).await?;
    Ok((token, session))
}

/// The live session a cookie's secret names, if any.
pub(crate) async fn session(store: &dyn Store, token: &str) -> Result<Option<Session>, ApiError> {
    let Some((s, _)) = get::<Session>(store, DocKind::Session, secret_id(token)).await? else {
        return Ok(None);
    };
    Ok((s.expires_at > Utc::now()).then_some(s))
}

/// Ends a session (logout, revocation). Ending an ended session is fine.
pub(crate) async fn end_session(store: &dyn Store, id: Id) -> Result<(), ApiError> {
    if let Some(doc) = store.get_doc(DocKind::Session, SYSTEM, id).await? {
        match store
            .delete_doc(DocKind::Session, SYSTEM, id, doc.version)
            .await
        {
            Ok(()) | Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The API key a bearer secret names, if any.
pub(crate) async fn api_key(store: &dyn Store, secret: &str) -> Result<Option<ApiKey>, ApiError> {
    Ok(get::<ApiKey>(store, DocKind::ApiKey, secret_id(secret))
        .await?
        .map(|(k, _)| k))
}

/// Creates an API key acting for user `owner`; returns the secret (shown
/// once) and the stored key.
pub(crate) async fn create_api_key(
    store: &dyn Store,
    tenant_id: Id,
    name: &str,
    role: Role,
    created_by: String,
    owner: Option<Id>,
    publisher_id: Option<Id>,
) -> Result<(String, ApiKey), ApiError> {
    let secret = new_secret("sbk_");
    let key = ApiKey {
        id: secret_id(&secret),
        tenant_id,
        name: name.to_owned(),
        role,
        prefix: secret.chars().take(10).collect(),
        created_by,
        created_at: Utc::now(),
        publisher_id,
    };
    let stored = StoredKey {
        key,
        owner_user_id: owner,
    };
    put(store, DocKind::ApiKey, stored.key.id, &stored, None).await?;
    Ok((secret, stored.key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "correct horse "));
        assert!(!verify_password("not a hash", "x"));
        assert_ne!(hash_password("correct horse").unwrap(), h, "salted");
    }

    #[test]
    fn hashes_agree_with_the_argon2_crates_own() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let ours = hash_password("correct horse").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"wrong horse", &parsed)
                .is_err()
        );
        // Hashes made elsewhere (other parameters, another variant) verify with theirs.
        for (algorithm, m) in [(Algorithm::Argon2id, 8 * 1024), (Algorithm::Argon2i, 4096)] {
            let theirs = Argon2::new(
                algorithm,
                Version::V0x13,
                Params::new(m, 3, 1, None).unwrap(),
            )
            .hash_password(b"correct horse")
            .unwrap()
            .to_string();
            assert!(verify_password(&theirs, "correct horse"), "{theirs}");
            assert!(!verify_password(&theirs, "correct horsf"), "{theirs}");
        }
    }

    #[test]
    fn ids_of_names_and_secrets() {
        assert_eq!(user_id("Alice"), user_id(" alice"));
        assert_ne!(user_id("alice"), user_id("bob"));
        let a = new_secret("sbk_");
        assert!(a.starts_with("sbk_") && a.len() > 40);
        assert_ne!(secret_id(&a), secret_id(&new_secret("sbk_")));
        assert_eq!(secret_id(&a), secret_id(&a));
    }
}

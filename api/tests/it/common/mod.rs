//! Shared helpers for the integration tests: a real server on 127.0.0.1:0
//! over an embedded store in a temp dir, configuration seeded through the
//! engine, requests signed the way Twilio signs them, and `periodic_check`
//! instead of sleeps.

pub(crate) mod failing_disk;
pub(crate) mod fake_twilio;
pub(crate) mod process;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use switchboard::twilio::signature;
use switchboard::{AppState, run};
use switchboard_engine::{ClusterTiming, Engine, EngineConfig};
use switchboard_model::{
    Buyer, BuyerAssignment, Campaign, CampaignStatus, DuplicateAction, Id, PhoneNumber,
    RoutingPolicy, Tenant, new_id,
};
use switchboard_store::{EmbeddedStore, Store};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The auth token of the test tenant.
pub(crate) const TOKEN: &str = "test-token";
/// The account SID of the test tenant.
pub(crate) const ACCOUNT: &str = "ACtest0000000000000000000000000000";
/// A caller.
pub(crate) const CALLER: &str = "+15551230000";
/// Lease timing for test clusters: quick to converge, long enough for a
/// loaded CI machine.
pub(crate) fn fast_cluster() -> ClusterTiming {
    ClusterTiming {
        ttl: chrono::Duration::milliseconds(4000),
        renew_every: chrono::Duration::milliseconds(250),
        max_skew: chrono::Duration::milliseconds(100),
        // Wide enough for a loaded CI machine's commit and peer hop (a call
        // recorded later than settle - max_skew after it asked is withdrawn).
        settle: chrono::Duration::milliseconds(1000),
    }
}

/// The public URL of a test cluster's load balancer.
pub(crate) const CLUSTER_PUBLIC: &str = "https://calls.switchboard.test";
/// The secret the nodes of a test cluster share.
pub(crate) const CLUSTER_SECRET: &str = "test-cluster-secret-0123456789";

/// Polls `cond` every 20 ms until it holds; panics after `timeout`.
pub(crate) async fn periodic_check<F, Fut>(mut cond: F, timeout: Duration)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if cond().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "condition not met within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A running server and what it runs on.
pub(crate) struct TestServer {
    /// `http://127.0.0.1:PORT`: where requests go.
    pub(crate) base: String,
    /// The public URL Twilio signs (`base` unless set otherwise).
    pub(crate) public: String,
    pub(crate) engine: Engine,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) client: reqwest::Client,
    pub(crate) dir: tempfile::TempDir,
    /// The server's webhook concurrency permits (take them to simulate overload).
    pub(crate) webhook_slots: Arc<tokio::sync::Semaphore>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// A webhook's answer.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) body: String,
}

impl Reply {
    /// Whether the TwiML dials someone.
    pub(crate) fn is_dial(&self) -> bool {
        self.body.contains("<Dial ")
    }

    /// Whether it is a polite rejection: something said, then hang up, no dial.
    pub(crate) fn is_polite_rejection(&self) -> bool {
        self.status == 200
            && !self.is_dial()
            && self.body.contains("<Say>")
            && self.body.ends_with("<Hangup/></Response>")
    }

    /// The number in `<Number>`.
    pub(crate) fn dialed(&self) -> Option<String> {
        between(&self.body, "\">", "</Number>")
            .map(|s| s.rsplit('>').next().unwrap_or(s).to_owned())
    }

    /// Our call id, from the `<Dial action>` URL.
    pub(crate) fn call_id(&self) -> Option<Id> {
        between(&self.body, "/api/webhooks/dial-status/", "?")?
            .parse()
            .ok()
    }

    /// The attempt index, from the status callback URL.
    pub(crate) fn attempt(&self) -> Option<u16> {
        between(&self.body, "&amp;attempt=", "\"")?.parse().ok()
    }
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = s.find(start)? + start.len();
    let len = s[from..].find(end)?;
    Some(&s[from..from + len])
}

/// Owned form pairs from string slices.
pub(crate) fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A voice webhook's parameters for a call from [`CALLER`] to `to`.
pub(crate) fn voice(call_sid: &str, to: &str) -> Vec<(String, String)> {
    pairs(&[
        ("CallSid", call_sid),
        ("AccountSid", ACCOUNT),
        ("From", CALLER),
        ("To", to),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("FromState", "CA"),
        ("FromZip", "94105"),
    ])
}

/// Encodes pairs as a form body.
pub(crate) fn encode(params: &[(String, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

/// Posts a form to `base + path_and_query` with `signature` (if any), from `client`.
pub(crate) async fn post_form(
    client: &reqwest::Client,
    base: &str,
    path_and_query: &str,
    params: &[(String, String)],
    signature: Option<&str>,
) -> Result<Reply, reqwest::Error> {
    let mut req = client
        .post(format!("{base}{path_and_query}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(encode(params));
    if let Some(sig) = signature {
        req = req.header(signature::HEADER, sig);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Ok(Reply {
        status,
        content_type,
        body: resp.text().await?,
    })
}

/// Posts a form signed with `token` for `base + path_and_query`, as Twilio would.
pub(crate) async fn post_signed_with(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    path_and_query: &str,
    params: &[(String, String)],
) -> Result<Reply, reqwest::Error> {
    let sig = signature::sign(token, &format!("{base}{path_and_query}"), params);
    post_form(client, base, path_and_query, params, Some(&sig)).await
}

impl TestServer {
    /// Starts the real server on 127.0.0.1:0 over a fresh embedded store.
    pub(crate) async fn start() -> Self {
        Self::start_behind(None).await
    }

    /// Starts the server as if behind a proxy that Twilio reaches at `public`.
    pub(crate) async fn start_behind(public: Option<&str>) -> Self {
        Self::start_configured(public, EngineConfig::default(), |s| s).await
    }

    /// Starts the server with its state changed by `configure` (other limits, say).
    pub(crate) async fn start_with(configure: impl FnOnce(AppState) -> AppState) -> Self {
        Self::start_configured(None, EngineConfig::default(), configure).await
    }

    /// Starts the server with engine settings of the test's choosing.
    pub(crate) async fn start_with_engine(public: Option<&str>, config: EngineConfig) -> Self {
        Self::start_configured(public, config, |s| s).await
    }

    /// Starts the server behind `public` with engine settings `config` and its
    /// state changed by `configure`.
    pub(crate) async fn start_configured(
        public: Option<&str>,
        config: EngineConfig,
        configure: impl FnOnce(AppState) -> AppState,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).expect("open store"));
        Self::launch(dir, store, public, config, None, configure).await
    }

    /// Starts the server over `store`, whose files are in `dir`.
    pub(crate) async fn start_on(dir: tempfile::TempDir, store: Arc<dyn Store>) -> Self {
        Self::launch(dir, store, None, EngineConfig::default(), None, |s| s).await
    }

    /// Starts one node of a cluster whose nodes share `store`: it joins
    /// with `timing` and the secret [`CLUSTER_SECRET`], peers over HTTP.
    /// Twilio reaches every node at one public URL, [`CLUSTER_PUBLIC`] (the
    /// load balancer's), and signs for it.
    pub(crate) async fn start_in_cluster(store: Arc<dyn Store>, timing: ClusterTiming) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::launch(
            dir,
            store,
            Some(CLUSTER_PUBLIC),
            EngineConfig::default(),
            Some(timing),
            |s| s,
        )
        .await
    }

    /// Another node over this server's store that reads configuration
    /// changes every 20 ms: what a second `serve` node on a shared ScyllaDB
    /// cluster is (`--config-poll-ms`). Its `dir` is an empty one of its own.
    pub(crate) async fn second_node(&self, config: EngineConfig) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let node = Self::launch(dir, self.store.clone(), None, config, None, |s| s).await;
        node.engine.follow_config(Duration::from_millis(20));
        node
    }

    async fn launch(
        dir: tempfile::TempDir,
        store: Arc<dyn Store>,
        public: Option<&str>,
        config: EngineConfig,
        cluster: Option<ClusterTiming>,
        configure: impl FnOnce(AppState) -> AppState,
    ) -> Self {
        let engine = Engine::start(store.clone(), config)
            .await
            .expect("start engine");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let public = public.map_or_else(|| base.clone(), |p| p.trim_end_matches('/').to_owned());
        let mut state = configure(AppState::new(engine.clone(), &public));
        if let Some(timing) = cluster {
            let link = Arc::new(
                switchboard::cluster::ClusterLink::new(CLUSTER_SECRET).expect("cluster link"),
            );
            engine
                .join_cluster(&base, timing, link.clone())
                .await
                .expect("join the cluster");
            state.cluster = Some(link);
        }
        let webhook_slots = state.webhook_slots.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(run(listener, state, async move {
            let _ = rx.await;
        }));
        // Enough connections for the concurrency tests, no idle reuse surprises.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(512)
            .build()
            .expect("client");
        Self {
            base,
            public,
            engine,
            store,
            client,
            dir,
            webhook_slots,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Posts a webhook signed with the test tenant's token for the public URL.
    pub(crate) async fn post(&self, path_and_query: &str, params: &[(String, String)]) -> Reply {
        let sig = signature::sign(TOKEN, &format!("{}{path_and_query}", self.public), params);
        post_form(&self.client, &self.base, path_and_query, params, Some(&sig))
            .await
            .expect("request")
    }

    /// Posts a voice webhook for `call_sid` to `to`.
    pub(crate) async fn call(&self, call_sid: &str, to: &str) -> Reply {
        self.post("/api/webhooks/voice", &voice(call_sid, to)).await
    }

    /// Posts a status callback for `call_id`'s attempt, signed; `event` is
    /// (`CallStatus`, `SequenceNumber`, `CallDuration`).
    pub(crate) async fn status(
        &self,
        call_id: Id,
        attempt: u16,
        leg_sid: &str,
        parent_sid: &str,
        event: (&str, u32, Option<u32>),
    ) -> Reply {
        let (status, sequence, duration) = event;
        let seq = sequence.to_string();
        let dur = duration.map(|d| d.to_string());
        let mut p = pairs(&[
            ("CallSid", leg_sid),
            ("ParentCallSid", parent_sid),
            ("AccountSid", ACCOUNT),
            ("CallStatus", status),
            ("SequenceNumber", &seq),
            ("CallbackSource", "call-progress-events"),
            ("Timestamp", &Utc::now().to_rfc2822()),
        ]);
        if let Some(d) = &dur {
            p.push(("CallDuration".into(), d.clone()));
        }
        self.post(
            &format!("/api/webhooks/status?callId={call_id}&attempt={attempt}"),
            &p,
        )
        .await
    }

    /// Posts the `<Dial action>` for `call_id`'s attempt.
    pub(crate) async fn dial_status(
        &self,
        call_id: Id,
        attempt: u16,
        status: &str,
        duration: Option<u32>,
    ) -> Reply {
        let mut p = pairs(&[
            ("AccountSid", ACCOUNT),
            ("DialCallStatus", status),
            ("DialCallSid", "CAleg"),
        ]);
        if let Some(d) = duration {
            p.push(("DialCallDuration".into(), d.to_string()));
        }
        self.post(
            &format!("/api/webhooks/dial-status/{call_id}?attempt={attempt}"),
            &p,
        )
        .await
    }

    /// A plain GET.
    pub(crate) async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request");
        (r.status().as_u16(), r.text().await.expect("body"))
    }

    /// Signs up a new tenant `tenant` with owner `username` and returns a
    /// console client holding its session cookie.
    pub(crate) async fn signup(&self, tenant: &str, username: &str) -> Console {
        let console = Console::new(&self.base);
        let r = console
            .post("/api/auth/signup", &serde_json::json!({"username": username, "password": "correct horse", "tenantName": tenant}))
            .await;
        assert_eq!(r.0, 201, "signup: {}", r.1);
        console
    }

    /// Stops the node the way a crash would: the server stops answering at
    /// once and the engine is dropped without shutting down, so it neither
    /// flushes nor gives its cluster leases up (they lapse).
    pub(crate) async fn crash(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Stops the server gracefully (which shuts the engine down) and hands
    /// back the data directory.
    pub(crate) async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server ran");
        }
        self.dir
    }
}

/// The test tenant (token [`TOKEN`], account [`ACCOUNT`]).
pub(crate) async fn tenant(engine: &Engine) -> Tenant {
    let t = Tenant {
        id: new_id(),
        name: format!("test {}", new_id()),
        twilio_account_sid: Some(ACCOUNT.into()),
        twilio_auth_token: TOKEN.into(),
        timezone: chrono_tz::Tz::UTC,
        publisher_sees_caller_numbers: false,
        version: 0,
        created_at: Utc::now(),
    };
    engine.put_tenant(t, None).await.expect("put tenant")
}

/// An always-open buyer converting after 60 s for 25.00 USD.
pub(crate) async fn buyer(
    engine: &Engine,
    tenant: Id,
    name: &str,
    number: &str,
    concurrency: Option<u32>,
) -> Buyer {
    let b: Buyer = serde_json::from_value(serde_json::json!({
        "id": new_id(), "tenantId": tenant, "name": name, "phoneNumber": number,
        "timezone": "America/New_York", "concurrencyLimit": concurrency, "dailyCap": 1000,
        "conversionSeconds": 60, "revenue": 25.00, "currency": "USD"
    }))
    .expect("buyer json");
    engine.put_buyer(b, None).await.expect("put buyer")
}

/// An active direct campaign on `number`; `buyers` as (buyer, priority, weight).
pub(crate) async fn campaign(
    engine: &Engine,
    tenant: Id,
    number: &str,
    policy: RoutingPolicy,
    buyers: &[(&Buyer, u32, u32)],
    max_fallthrough: u32,
    recording: bool,
) -> Campaign {
    let c = Campaign {
        id: new_id(),
        tenant_id: tenant,
        name: format!("campaign {number}"),
        description: String::new(),
        status: CampaignStatus::Active,
        routing_type: Default::default(),
        phone_number: Some(PhoneNumber::parse(number).expect("number")),
        pool_id: None,
        rtb_router_id: None,
        routing_policy: policy,
        buyers: buyers
            .iter()
            .map(|(b, priority, weight)| BuyerAssignment {
                buyer_id: b.id,
                priority: *priority,
                weight: *weight,
            })
            .collect(),
        recording,
        dial_timeout_seconds: 20,
        caller_id_mode: Default::default(),
        duplicate_window_hours: 0,
        duplicate_action: DuplicateAction::SameBuyer,
        max_fallthrough,
        tags: Default::default(),
        payout_rules: Vec::new(),
        version: 0,
    };
    engine.put_campaign(c, None).await.expect("put campaign")
}

/// The demo-like priority setup: Acme (priority 1, concurrency 2), Beta
/// (priority 2, weight 2) and Gamma (priority 2, weight 1) on +15550001000.
pub(crate) struct Priority {
    pub(crate) acme: Buyer,
    pub(crate) beta: Buyer,
    pub(crate) gamma: Buyer,
    pub(crate) campaign: Campaign,
}

pub(crate) const PRIORITY_NUMBER: &str = "+15550001000";
pub(crate) const ACME: &str = "+15550002001";
pub(crate) const BETA: &str = "+15550002002";
pub(crate) const GAMMA: &str = "+15550002003";

pub(crate) async fn priority(engine: &Engine) -> Priority {
    let tenant = tenant(engine).await;
    let acme = buyer(engine, tenant.id, "Acme Insurance", ACME, Some(2)).await;
    let beta = buyer(engine, tenant.id, "Beta Health", BETA, Some(5)).await;
    let gamma = buyer(engine, tenant.id, "Gamma Legal", GAMMA, Some(5)).await;
    let campaign = campaign(
        engine,
        tenant.id,
        PRIORITY_NUMBER,
        RoutingPolicy::Priority,
        &[(&acme, 1, 1), (&beta, 2, 2), (&gamma, 2, 1)],
        3,
        false,
    )
    .await;
    Priority {
        acme,
        beta,
        gamma,
        campaign,
    }
}

/// A browser-like admin client: keeps cookies, sends our `Origin` on writes.
pub(crate) struct Console {
    pub(crate) base: String,
    pub(crate) client: reqwest::Client,
    /// `Authorization: Bearer …` to send instead of the cookie, when set.
    pub(crate) bearer: Option<String>,
}

impl Console {
    /// A client with an empty cookie jar.
    pub(crate) fn new(base: &str) -> Self {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .expect("client");
        Self {
            base: base.to_owned(),
            client,
            bearer: None,
        }
    }

    /// A client that authenticates with an API key only.
    pub(crate) fn with_key(base: &str, key: &str) -> Self {
        Self {
            bearer: Some(key.to_owned()),
            ..Self::new(base)
        }
    }

    /// Sends `method path` with an optional JSON body; returns status, body
    /// as JSON (`Null` when empty or not JSON) and the headers.
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> (u16, serde_json::Value, reqwest::header::HeaderMap) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("origin"))
        {
            req = req.header("Origin", &self.base);
        }
        if let Some(b) = &self.bearer {
            req = req.bearer_auth(b);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
            headers,
        )
    }

    /// GET: status and JSON body.
    pub(crate) async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let (s, v, _) = self.send(reqwest::Method::GET, path, None, &[]).await;
        (s, v)
    }

    /// POST JSON: status and JSON body.
    pub(crate) async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let (s, v, _) = self
            .send(reqwest::Method::POST, path, Some(body), &[])
            .await;
        (s, v)
    }

    /// PUT JSON: status and JSON body.
    pub(crate) async fn put(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let (s, v, _) = self.send(reqwest::Method::PUT, path, Some(body), &[]).await;
        (s, v)
    }

    /// PATCH with a JSON merge patch: status and JSON body.
    pub(crate) async fn patch(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let (s, v, _) = self
            .send(reqwest::Method::PATCH, path, Some(body), &[])
            .await;
        (s, v)
    }

    /// POST JSON that must create: the created resource.
    pub(crate) async fn created(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let (s, v) = self.post(path, &body).await;
        assert_eq!(s, 201, "{path}: {v}");
        v
    }

    /// DELETE: status and JSON body.
    pub(crate) async fn delete(&self, path: &str) -> (u16, serde_json::Value) {
        let (s, v, _) = self.send(reqwest::Method::DELETE, path, None, &[]).await;
        (s, v)
    }
}

/// The fields a 422's `error.fields` names, in order.
pub(crate) fn fields(v: &serde_json::Value) -> Vec<String> {
    v["error"]["fields"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A signed-up tenant whose Twilio account is connected.
pub(crate) struct Tenancy {
    pub(crate) console: Console,
    pub(crate) tenant: Id,
    pub(crate) token: String,
    pub(crate) account: String,
}

/// Signs up `name` and connects a Twilio account (auth token and SID) to it.
pub(crate) async fn sign_up(server: &TestServer, name: &str) -> Tenancy {
    let console = server
        .signup(name, &format!("owner-{}", name.replace(' ', "-")))
        .await;
    let (s, me) = console.get("/api/auth/user").await;
    assert_eq!(s, 200, "{me}");
    let tenant: Id = me["tenantId"].as_str().unwrap().parse().unwrap();
    let current: Tenant = (*server.engine.tenant(tenant).unwrap()).clone();
    let token = format!("token-{name}");
    let account = format!("AC{:032x}", tenant.as_u128() & 0xffff_ffff_ffff);
    let t = Tenant {
        twilio_auth_token: token.clone(),
        twilio_account_sid: Some(account.clone()),
        ..current.clone()
    };
    server
        .engine
        .put_tenant(t, Some(current.version))
        .await
        .unwrap();
    Tenancy {
        console,
        tenant,
        token,
        account,
    }
}

impl Tenancy {
    /// Posts a voice webhook from `from` to `to` (and `extra` fields) signed
    /// for this tenant's account, as Twilio would.
    pub(crate) async fn voice(
        &self,
        server: &TestServer,
        sid: &str,
        from: &str,
        to: &str,
        extra: &[(&str, &str)],
    ) -> Reply {
        let mut params = pairs(&[
            ("CallSid", sid),
            ("AccountSid", &self.account),
            ("From", from),
            ("To", to),
            ("CallStatus", "ringing"),
            ("Direction", "inbound"),
        ]);
        params.extend(pairs(extra));
        post_signed_with(
            &server.client,
            &server.base,
            &self.token,
            "/api/webhooks/voice",
            &params,
        )
        .await
        .expect("webhook")
    }
}

//! The recorder: group commit of call records (and of DNI visitor sessions
//! and RTB auctions' bid rows, which two more recorders write the same way).
//!
//! Webhooks hand records to a bounded queue and wait for the commit that
//! contains them. One task drains the queue: everything waiting (up to a
//! batch limit) goes into one store transaction — one fsync for many calls —
//! and each waiter is answered only after that commit. So a call is never
//! acknowledged before it is durable, and throughput grows with load instead
//! of paying one fsync per call.
//!
//! It is a plain task rather than an actor because its whole job is to await
//! disk, which actor handlers must never do; the bounded queue is what sheds
//! load when the store is slow (webhooks wait, then get 503).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_model::call::VisitorSession;
use switchboard_model::{BidRequestRecord, BidResponseRecord, CallRecord};
use switchboard_store::Store;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::metrics::{
    PROJECTION_LAG_EVENTS, PROJECTION_LAG_SECONDS, RECORDER_BATCH_SIZE, RECORDER_COMMIT_SECONDS,
    RECORDER_COMMITTED, RECORDER_ERRORS, RECORDER_PUSHED, RECORDER_SHED,
};
use crate::{EngineConfig, EngineError, Result};

type Ack = oneshot::Sender<std::result::Result<(), String>>;

/// A store write in progress (the store's methods are boxed futures).
type Commit<'a> = Pin<Box<dyn Future<Output = switchboard_store::Result<()>> + Send + 'a>>;

/// What a recorder writes: many items in one store transaction.
pub(crate) trait Recorded: Send + Sync + Sized + 'static {
    /// What the items are, in errors and logs.
    const WHAT: &'static str;
    /// Stores `batch` durably, in one transaction.
    fn commit<'a>(store: &'a dyn Store, batch: &'a [Self]) -> Commit<'a>;
    /// Counts an item taken into the queue (`accepted`) or shed, in the metrics.
    fn queued(_accepted: bool) {}
    /// Counts a commit (`ok`: it succeeded) in the metrics.
    fn observe(_batch: usize, _took: Duration, _ok: bool) {}
}

impl Recorded for CallRecord {
    const WHAT: &'static str = "call record";
    fn commit<'a>(store: &'a dyn Store, batch: &'a [Self]) -> Commit<'a> {
        store.put_calls(batch)
    }
    fn queued(accepted: bool) {
        if accepted {
            RECORDER_PUSHED.inc();
        } else {
            RECORDER_SHED.inc();
        }
    }
    fn observe(batch: usize, took: Duration, ok: bool) {
        RECORDER_COMMIT_SECONDS.record(took.as_secs_f64());
        RECORDER_BATCH_SIZE.record(batch as f64);
        if ok {
            RECORDER_COMMITTED.add(batch as u64);
        } else {
            RECORDER_ERRORS.inc();
        }
    }
}

impl Recorded for VisitorSession {
    const WHAT: &'static str = "visitor session";
    fn commit<'a>(store: &'a dyn Store, batch: &'a [Self]) -> Commit<'a> {
        store.put_sessions(batch)
    }
}

/// An auction's bid rows: its request, and the response of each target asked.
impl Recorded for (BidRequestRecord, Vec<BidResponseRecord>) {
    const WHAT: &'static str = "rtb auction";
    fn commit<'a>(store: &'a dyn Store, batch: &'a [Self]) -> Commit<'a> {
        store.put_auctions(batch)
    }
}

/// Handle to a recorder task. Cheap to clone.
pub(crate) struct Recorder<T> {
    tx: mpsc::Sender<(T, Ack)>,
    wait: Duration,
    stop: Arc<Notify>,
}

impl<T> Clone for Recorder<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            wait: self.wait,
            stop: self.stop.clone(),
        }
    }
}

impl<T: Recorded> Recorder<T> {
    /// Starts the recorder task: a queue of `config.recorder_queue`, batches
    /// of at most `config.recorder_max_batch`, and a full queue waited on for
    /// `config.route_timeout` before the item is shed.
    pub(crate) fn start(
        store: Arc<dyn Store>,
        config: &EngineConfig,
    ) -> (Recorder<T>, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(config.recorder_queue.max(1));
        let stop = Arc::new(Notify::new());
        let max_batch = config.recorder_max_batch.max(1);
        let task = tokio::spawn(run(store, rx, max_batch, stop.clone()));
        let wait = config.route_timeout;
        (Recorder { tx, wait, stop }, task)
    }

    /// Stops accepting records; the task commits what was accepted, then ends.
    pub(crate) fn close(&self) {
        self.stop.notify_one();
    }

    /// Makes `record` durable; returns once it is committed.
    pub(crate) async fn record(&self, record: T) -> Result<()> {
        let (ack, done) = oneshot::channel();
        match self.tx.send_timeout((record, ack), self.wait).await {
            Ok(()) => T::queued(true),
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                T::queued(false);
                return Err(EngineError::Overloaded(format!(
                    "the {} queue is full",
                    T::WHAT
                )));
            }
            Err(mpsc::error::SendTimeoutError::Closed(_)) => {
                return Err(EngineError::Overloaded("recorder is shut down".into()));
            }
        }
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(EngineError::Overloaded(format!(
                "{} not stored: {e}",
                T::WHAT
            ))),
            Err(_) => Err(EngineError::Overloaded(
                "recorder stopped before the commit".into(),
            )),
        }
    }
}

/// Reports how far the store's projections are behind its call log, every
/// `every`, until the store is dropped.
pub(crate) fn watch_lag(store: std::sync::Weak<dyn Store>, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(store) = store.upgrade() else { break };
            match store.projection_lag().await {
                Ok(lag) => {
                    PROJECTION_LAG_EVENTS.set(lag.events as f64);
                    PROJECTION_LAG_SECONDS.set(lag.seconds);
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the projection lag"),
            }
        }
    })
}

async fn run<T: Recorded>(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<(T, Ack)>,
    max_batch: usize,
    stop: Arc<Notify>,
) {
    let mut records = Vec::with_capacity(max_batch);
    let mut acks = Vec::with_capacity(max_batch);
    let mut buf = Vec::with_capacity(max_batch);
    loop {
        let n = tokio::select! {
            biased;
            n = rx.recv_many(&mut buf, max_batch) => n,
            () = stop.notified() => {
                // After close, `recv_many` still yields what was accepted and
                // then 0: shutdown drains, it never drops.
                rx.close();
                continue;
            }
        };
        if n == 0 {
            break;
        }
        for (record, ack) in buf.drain(..) {
            records.push(record);
            acks.push(ack);
        }
        let started = Instant::now();
        let result = T::commit(store.as_ref(), &records).await;
        T::observe(records.len(), started.elapsed(), result.is_ok());
        if let Err(e) = &result {
            tracing::error!(error = %e, records = records.len(), what = T::WHAT, "recorder commit failed");
        }
        for ack in acks.drain(..) {
            let _ = ack.send(result.as_ref().map(|_| ()).map_err(|e| e.to_string()));
        }
        records.clear();
    }
}

//! The recorder: group commit of call records.
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

use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_model::CallRecord;
use switchboard_store::Store;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::metrics::{
    PROJECTION_LAG_EVENTS, PROJECTION_LAG_SECONDS, RECORDER_BATCH_SIZE, RECORDER_COMMIT_SECONDS,
    RECORDER_COMMITTED, RECORDER_ERRORS, RECORDER_PUSHED, RECORDER_SHED,
};
use crate::{EngineError, Result};

type Ack = oneshot::Sender<std::result::Result<(), String>>;

/// Handle to the recorder task. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Recorder {
    tx: mpsc::Sender<(CallRecord, Ack)>,
    wait: Duration,
    stop: Arc<Notify>,
}

impl Recorder {
    /// Starts the recorder task.
    pub(crate) fn start(
        store: Arc<dyn Store>,
        queue: usize,
        max_batch: usize,
        wait: Duration,
    ) -> (Recorder, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let stop = Arc::new(Notify::new());
        let task = tokio::spawn(run(store, rx, max_batch.max(1), stop.clone()));
        (Recorder { tx, wait, stop }, task)
    }

    /// Stops accepting records; the task commits what was accepted, then ends.
    pub(crate) fn close(&self) {
        self.stop.notify_one();
    }

    /// Makes `record` durable; returns once it is committed.
    pub(crate) async fn record(&self, record: CallRecord) -> Result<()> {
        let (ack, done) = oneshot::channel();
        match self.tx.send_timeout((record, ack), self.wait).await {
            Ok(()) => RECORDER_PUSHED.inc(),
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                RECORDER_SHED.inc();
                return Err(EngineError::Overloaded("recorder queue is full".into()));
            }
            Err(mpsc::error::SendTimeoutError::Closed(_)) => {
                return Err(EngineError::Overloaded("recorder is shut down".into()));
            }
        }
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(EngineError::Overloaded(format!(
                "call record not stored: {e}"
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

async fn run(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<(CallRecord, Ack)>,
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
        let result = store.put_calls(&records).await;
        RECORDER_COMMIT_SECONDS.record(started.elapsed().as_secs_f64());
        RECORDER_BATCH_SIZE.record(records.len() as f64);
        match &result {
            Ok(()) => RECORDER_COMMITTED.add(records.len() as u64),
            Err(e) => {
                RECORDER_ERRORS.inc();
                tracing::error!(error = %e, records = records.len(), "recorder commit failed");
            }
        }
        for ack in acks.drain(..) {
            let _ = ack.send(result.as_ref().map(|_| ()).map_err(|e| e.to_string()));
        }
        records.clear();
    }
}

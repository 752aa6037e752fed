//! What the worker's tasks share: settings, stores, processor clients and the routing state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::routing::{Routing, RoutingConfig, RoutingHandle};
use super::stores::{PaymentStore, Processors, StoreError};
use crate::config::Settings;
use crate::domain::{Amount, CorrelationId, Millis, Processor};
use crate::group_commit::GroupCommit;
use crate::ledger::{Booked, Booking, BookingWriter, Ledger};
use crate::metrics::Metrics;
use crate::processor::{CallOutcome, ProcessorClient};
use crate::queue::{AttemptWrite, Queue, QueuedPayment};

/// Most stream entries one Redis command or script of the worker handles: entries read, attempt
/// records, acknowledgements, refreshes. Redis runs one command at a time, every POST's intake
/// script included, so a command's length is added to the latency of the POSTs that arrive
/// meanwhile. The bench's slow log caught refreshes of up to 500 held entries holding Redis up to
/// 3 ms, and reads of 256 entries up to 2.3 ms. A drain at this size takes a few more round
/// trips per second, each still serving dozens of payments.
pub(super) const MAX_REDIS_BATCH: usize = 64;

// `set_attempt.lua` and `refresh.lua` hand a whole batch to one `HSET` / `XCLAIM`, and Lua's unpack
// refuses more than about 8,000 values (7,990 passed, 8,100 failed on Redis 7.0): a batch stays far
// below, so a larger one has to be a decision, not an accident.
const _: () = assert!(MAX_REDIS_BATCH <= 1_000);

/// How long an attempt record waits for others to share its script. Short: the call waits
/// behind it.
const ATTEMPT_LINGER: Duration = Duration::from_millis(2);

/// How long an acknowledgement waits for others to share its transaction. Nothing waits for
/// it but the task's slot; calls end one by one, so without a linger most batches held one or two.
const ACK_LINGER: Duration = Duration::from_millis(40);

/// Everything the worker's tasks share.
pub struct WorkerContext {
    pub settings: Settings,
    pub queue: Queue,
    pub ledger: Ledger,
    pub writer: BookingWriter,
    /// Attempt records and acknowledgements, by group commit: under load the tasks' writes
    /// share round trips (and Redis's work per command) instead of one each.
    attempts: GroupCommit<AttemptWrite, Result<bool, String>>,
    acks: GroupCommit<(String, CorrelationId), Result<(), String>>,
    pub clients: [ProcessorClient; 2],
    pub routing: RoutingHandle,
    /// The stream entries this worker holds, by payment, refreshed so that nobody reclaims
    /// them; an attempt record is written only while its entry is held here and in Redis.
    pub(super) held: Mutex<HashMap<CorrelationId, String>>,
    pub metrics: Arc<Metrics>,
}

impl WorkerContext {
    pub fn new(
        settings: Settings,
        queue: Queue,
        ledger: Ledger,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        let clients = Processor::ALL
            .map(|p| ProcessorClient::new(settings.processor(p), settings.processor_timeout));
        let routing = Routing::new(RoutingConfig {
            fees: Processor::ALL.map(|p| settings.processor(p).fee),
            audit_slack: settings.audit_slack,
            max_inflight: super::inflight_share(&settings),
            probe_interval: settings.probe_interval,
            misconfigured_pause: settings.misconfigured_pause,
            settlement_delay: settings.settlement_delay,
            max_calls_per_sec: super::calls_per_sec_share(&settings),
        });
        let writer = BookingWriter::spawn(ledger.clone(), settings.audit_slack);
        let attempts = GroupCommit::spawn("attempt writer", MAX_REDIS_BATCH, ATTEMPT_LINGER, {
            let (queue, consumer) = (queue.clone(), settings.worker_name.clone());
            move |writes: Vec<AttemptWrite>| {
                let (queue, consumer) = (queue.clone(), consumer.clone());
                async move {
                    match queue.set_attempts_if_held(&consumer, &writes).await {
                        Ok(written) => written.into_iter().map(Ok).collect(),
                        Err(err) => vec![Err(err.to_string()); writes.len()],
                    }
                }
            }
        });
        let acks = GroupCommit::spawn("acknowledger", MAX_REDIS_BATCH, ACK_LINGER, {
            let queue = queue.clone();
            move |done: Vec<(String, CorrelationId)>| {
                let queue = queue.clone();
                async move {
                    let result = queue.finish(&done).await.map_err(|err| err.to_string());
                    vec![result; done.len()]
                }
            }
        });
        Arc::new(Self {
            settings,
            queue,
            ledger,
            writer,
            attempts,
            acks,
            clients,
            routing: RoutingHandle::new(routing),
            held: Mutex::new(HashMap::new()),
            metrics,
        })
    }

    pub(crate) fn client(&self, p: Processor) -> &ProcessorClient {
        &self.clients[p.index()]
    }
}

impl PaymentStore for WorkerContext {
    async fn attempt(&self, id: &CorrelationId) -> Result<Option<String>, StoreError> {
        self.queue.attempt(id).await.map_err(store_error)
    }

    async fn set_attempt(&self, id: &CorrelationId, record: &str) -> Result<(), StoreError> {
        let entry_id = self.held.lock().unwrap().get(id).cloned();
        let Some(entry_id) = entry_id else {
            return Err(StoreError::not_held());
        };
        let write = AttemptWrite {
            entry_id,
            correlation_id: *id,
            record: record.to_owned(),
        };
        let written = self
            .attempts
            .submit(write)
            .await
            .map_err(store_error)?
            .map_err(StoreError)?;
        if written {
            Ok(())
        } else {
            Err(StoreError::not_held())
        }
    }

    async fn dead_letter(&self, entry: &QueuedPayment, reason: &str) -> Result<(), StoreError> {
        self.queue
            .dead_letter(entry, reason)
            .await
            .map_err(store_error)
    }

    async fn acknowledge(&self, entry: &QueuedPayment) -> Result<(), StoreError> {
        let done = (entry.entry_id.clone(), entry.correlation_id);
        self.acks
            .submit(done)
            .await
            .map_err(store_error)?
            .map_err(StoreError)
    }

    async fn book(&self, booking: Booking) -> Result<Booked, StoreError> {
        self.writer.book(booking).await.map_err(StoreError)
    }
}

impl Processors for WorkerContext {
    async fn pay(
        &self,
        p: Processor,
        id: &CorrelationId,
        amount: Amount,
        requested_at: Millis,
    ) -> CallOutcome {
        self.client(p).pay(id, amount, requested_at).await
    }

    async fn stored(&self, p: Processor, id: &CorrelationId) -> Result<Option<Millis>, StoreError> {
        let stored = self.client(p).stored(id).await.map_err(StoreError)?;
        Ok(stored.map(|s| s.requested_at))
    }
}

fn store_error(err: impl std::fmt::Display) -> StoreError {
    StoreError(err.to_string())
}

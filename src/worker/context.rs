//! What the worker's tasks share: settings, stores, processor clients and the routing state.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::routing::{Routing, RoutingConfig, RoutingHandle};
use super::stores::{PaymentStore, Processors, StoreError};
use crate::config::Settings;
use crate::domain::{Amount, CorrelationId, Millis, Processor};
use crate::ledger::{Booked, Booking, BookingWriter, Ledger};
use crate::metrics::Metrics;
use crate::processor::{CallOutcome, ProcessorClient};
use crate::queue::{Queue, QueuedPayment};

/// How often a failing processor gets one real call to notice its recovery (see
/// [`RoutingConfig::probe_interval`]). Not yet a setting.
const PROBE_INTERVAL: Duration = Duration::from_millis(250);
/// How long a processor that answered 401/403/404 is left alone. Not yet a setting.
const MISCONFIGURED_PAUSE: Duration = Duration::from_secs(10);
/// How long a payment waits for a failing cheaper processor's probe. Not yet a setting.
const HOLD_FOR_CHEAPER: Duration = Duration::from_secs(1);

/// Everything the worker's tasks share.
pub struct WorkerContext {
    pub settings: Settings,
    pub queue: Queue,
    pub ledger: Ledger,
    pub writer: BookingWriter,
    pub clients: [ProcessorClient; 2],
    pub routing: RoutingHandle,
    /// Stream entries this worker holds, refreshed so that nobody reclaims them.
    pub(super) held: Mutex<HashSet<String>>,
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
            max_inflight: settings.max_inflight,
            probe_interval: PROBE_INTERVAL,
            misconfigured_pause: MISCONFIGURED_PAUSE,
            hold_for_cheaper: HOLD_FOR_CHEAPER,
            max_calls_per_sec: settings.max_calls_per_sec,
        });
        let writer = BookingWriter::spawn(ledger.clone());
        Arc::new(Self {
            settings,
            queue,
            ledger,
            writer,
            clients,
            routing: RoutingHandle::new(routing),
            held: Mutex::new(HashSet::new()),
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
        self.queue
            .set_attempt(id, record)
            .await
            .map_err(store_error)
    }

    async fn dead_letter(&self, entry: &QueuedPayment, reason: &str) -> Result<(), StoreError> {
        self.queue
            .dead_letter(entry, reason)
            .await
            .map_err(store_error)
    }

    async fn acknowledge(&self, entry: &QueuedPayment) -> Result<(), StoreError> {
        let done = [(entry.entry_id.clone(), entry.correlation_id)];
        self.queue.finish(&done).await.map_err(store_error)
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

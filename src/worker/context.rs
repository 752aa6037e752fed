//! What the worker's tasks share: settings, stores, processor clients and the routing state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::routing::{Routing, RoutingConfig, RoutingHandle};
use super::stores::{PaymentStore, Processors, StoreError};
use crate::config::Settings;
use crate::domain::{Amount, CorrelationId, Millis, Processor};
use crate::ledger::{Booked, Booking, BookingWriter, Ledger};
use crate::metrics::Metrics;
use crate::processor::{CallOutcome, ProcessorClient};
use crate::queue::{Queue, QueuedPayment};

/// Everything the worker's tasks share.
pub struct WorkerContext {
    pub settings: Settings,
    pub queue: Queue,
    pub ledger: Ledger,
    pub writer: BookingWriter,
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
        let writer = BookingWriter::spawn(ledger.clone());
        Arc::new(Self {
            settings,
            queue,
            ledger,
            writer,
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
        let written = self
            .queue
            .set_attempt_if_held(&self.settings.worker_name, &entry_id, id, record)
            .await
            .map_err(store_error)?;
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

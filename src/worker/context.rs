//! What the worker's tasks share: settings, stores, processor clients and the routing state.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use super::routing::{Routing, RoutingConfig, RoutingHandle};
use crate::config::Settings;
use crate::domain::Processor;
use crate::ledger::{BookingWriter, Ledger};
use crate::metrics::Metrics;
use crate::processor::ProcessorClient;
use crate::queue::Queue;

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
            audit_slack_ms: settings.audit_slack.as_millis() as u64,
            max_inflight: settings.max_inflight,
            probe_interval_ms: 250,
            misconfigured_pause_ms: 10_000,
            hold_for_cheaper_ms: 1_000,
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

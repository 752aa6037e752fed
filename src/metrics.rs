//! This process's metrics (prometheus-client), rendered on `GET /metrics` in the OpenMetrics
//! text format.
//!
//! Each process (every API instance, the worker) has its own registry and exposes only what it
//! counted itself; the README says how to scrape each one.
//!
//! Adding a metric: a field below, one `register` call in [`Metrics::new`] (the name without
//! `_total`, which prometheus-client adds to counters), and a method that counts. Every labelled
//! series is created up front and kept as a handle, so that a scrape shows zeros too and
//! counting is one atomic operation, with no lookup in a family's map.

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry, Unit};

use crate::domain::Processor;
use crate::queue::{EnqueueOutcome, QueueDepth};

/// HTTP statuses the API answers; any other counts as `status="other"`.
const STATUSES: [u16; 13] = [
    200, 202, 400, 404, 405, 408, 409, 413, 415, 422, 500, 503, 504,
];
/// How an unknown enqueue outcome was resolved by looking the id up.
const RESOLVED: [&str; 3] = ["accepted", "conflict", "absent"];
/// The labels of a call's outcome, as the processor client names them
/// (`CallOutcome::metric_label`).
pub const CALL_OUTCOMES: [&str; 8] = [
    "processed",
    "already_processed",
    "not_processed",
    "not_sent",
    "unknown",
    "busy",
    "misconfigured",
    "rejected",
];

/// A series' labels, as (name, value) pairs.
type Labels = Vec<(&'static str, String)>;

/// Every metric of one process.
pub struct Metrics {
    registry: Registry,
    /// The queue's depth, read from Redis at each scrape: its own registry, rendered only when
    /// Redis answered (a stale depth would look like a stuck queue).
    queue_registry: Registry,
    /// By status, in [`STATUSES`] order, then `other`.
    requests: Vec<Counter>,
    /// By processor, then outcome in [`CALL_OUTCOMES`] order.
    calls: [Vec<Counter>; 2],
    call_duration: [Histogram; 2],
    inflight: [Gauge; 2],
    bookings: [Counter; 2],
    dead_letters: Counter,
    malformed_entries: Counter,
    ledger_conflicts: Counter,
    already_booked: Counter,
    /// In [`RESOLVED`] order.
    enqueue_resolved: Vec<Counter>,
    enqueue_unknown: Counter,
    queue_length: Gauge,
    queue_pending: Gauge,
    dead_letter_queue_length: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Processor calls take from under a millisecond (a refusal) to `processor_timeout_ms` (10 s
/// by default): 1 ms doubling up to 16 s.
fn call_duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Registers `metric` under `name` and hands it back: a clone shares the value it counts.
fn registered<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

fn processor(p: Processor) -> Labels {
    vec![("processor", p.as_str().to_owned())]
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();

        let requests = registered(
            &mut registry,
            "rinha_http_requests",
            "Requests answered, by HTTP status",
            Family::<Labels, Counter>::default(),
        );
        let requests = STATUSES
            .iter()
            .map(|s| s.to_string())
            .chain(["other".to_owned()])
            .map(|s| requests.get_or_create(&vec![("status", s)]).clone())
            .collect();

        let calls = registered(
            &mut registry,
            "rinha_processor_calls",
            "Processor calls, by processor and outcome",
            Family::<Labels, Counter>::default(),
        );
        let calls = Processor::ALL.map(|p| {
            CALL_OUTCOMES
                .iter()
                .map(|o| {
                    let mut labels = processor(p);
                    labels.push(("outcome", (*o).to_owned()));
                    calls.get_or_create(&labels).clone()
                })
                .collect()
        });

        let call_duration = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(
            call_duration_histogram,
        );
        registry.register_with_unit(
            "rinha_processor_call_duration",
            "How long processor calls took, by processor",
            Unit::Seconds,
            call_duration.clone(),
        );
        let call_duration =
            Processor::ALL.map(|p| call_duration.get_or_create(&processor(p)).clone());

        let inflight = registered(
            &mut registry,
            "rinha_processor_inflight",
            "Processor calls in flight, by processor",
            Family::<Labels, Gauge>::default(),
        );
        let inflight = Processor::ALL.map(|p| inflight.get_or_create(&processor(p)).clone());

        let bookings = registered(
            &mut registry,
            "rinha_bookings",
            "Payments booked in the ledger, by processor",
            Family::<Labels, Counter>::default(),
        );
        let bookings = Processor::ALL.map(|p| bookings.get_or_create(&processor(p)).clone());

        let dead_letters = registered(
            &mut registry,
            "rinha_dead_letters",
            "Payments a processor refused as invalid, moved to the dead-letter stream",
            Counter::default(),
        );

        let malformed_entries = registered(
            &mut registry,
            "rinha_malformed_entries",
            "Stream entries that were no payment, moved to the dead-letter stream as read",
            Counter::default(),
        );

        let ledger_conflicts = registered(
            &mut registry,
            "rinha_ledger_conflicts",
            "Payments paid at one processor whose ledger row names the other: paid twice",
            Counter::default(),
        );

        let already_booked = registered(
            &mut registry,
            "rinha_already_booked",
            "Queue entries whose payment the ledger already had, acknowledged without a call",
            Counter::default(),
        );

        let enqueue_resolved = registered(
            &mut registry,
            "rinha_enqueue_outcome_resolved",
            "Enqueues whose answer was lost, resolved by looking the id up",
            Family::<Labels, Counter>::default(),
        );
        let enqueue_resolved = RESOLVED
            .iter()
            .map(|r| {
                enqueue_resolved
                    .get_or_create(&vec![("as", (*r).to_owned())])
                    .clone()
            })
            .collect();

        let enqueue_unknown = registered(
            &mut registry,
            "rinha_enqueue_outcome_unknown",
            "Enqueues whose outcome stayed unknown (answered 504)",
            Counter::default(),
        );

        let mut queue_registry = Registry::default();
        let queue_length = registered(
            &mut queue_registry,
            "rinha_queue_length",
            "Entries in the payments stream",
            Gauge::default(),
        );
        let queue_pending = registered(
            &mut queue_registry,
            "rinha_queue_pending",
            "Entries delivered to a worker and not acknowledged",
            Gauge::default(),
        );
        let dead_letter_queue_length = registered(
            &mut queue_registry,
            "rinha_dead_letter_queue_length",
            "Entries in the dead-letter stream",
            Gauge::default(),
        );

        Self {
            registry,
            queue_registry,
            requests,
            calls,
            call_duration,
            inflight,
            bookings,
            dead_letters,
            malformed_entries,
            ledger_conflicts,
            already_booked,
            enqueue_resolved,
            enqueue_unknown,
            queue_length,
            queue_pending,
            dead_letter_queue_length,
        }
    }

    pub fn request(&self, status: u16) {
        let i = STATUSES
            .iter()
            .position(|&s| s == status)
            .unwrap_or(STATUSES.len());
        self.requests[i].inc();
    }

    pub fn call_started(&self, p: Processor) {
        self.inflight[p.index()].inc();
    }

    /// Counts a finished call; `outcome` is one of [`CALL_OUTCOMES`] (anything else counts
    /// under none of them).
    pub fn call_finished(&self, p: Processor, outcome: &str, elapsed_ms: u64) {
        let i = p.index();
        self.inflight[i].dec();
        if let Some(j) = CALL_OUTCOMES.iter().position(|&o| o == outcome) {
            self.calls[i][j].inc();
        }
        self.call_duration[i].observe(elapsed_ms as f64 / 1000.0);
    }

    pub fn booked(&self, p: Processor) {
        self.bookings[p.index()].inc();
    }

    /// An enqueue whose answer was not heard, resolved by a lookup.
    pub fn enqueue_resolved(&self, outcome: EnqueueOutcome) {
        let i = match outcome {
            EnqueueOutcome::Accepted | EnqueueOutcome::Replayed => 0,
            EnqueueOutcome::Conflict => 1,
            EnqueueOutcome::TooLate => 2,
        };
        self.enqueue_resolved[i].inc();
    }

    /// An enqueue whose outcome stayed unknown (answered 504).
    pub fn enqueue_unknown(&self) {
        self.enqueue_unknown.inc();
    }

    /// A payment paid at one processor whose ledger row says the other: paid twice.
    pub fn ledger_conflict(&self) {
        self.ledger_conflicts.inc();
    }

    /// A queue entry whose payment the ledger already had: acknowledged without a call.
    pub fn already_booked(&self, n: u64) {
        self.already_booked.inc_by(n);
    }

    pub fn dead_lettered(&self) {
        self.dead_letters.inc();
    }

    /// Stream entries that were no payment (dead-lettered as read).
    pub fn malformed_entries(&self, n: u64) {
        self.malformed_entries.inc_by(n);
    }

    /// The OpenMetrics text of every metric; `queue` adds the queue's depth when known.
    pub fn render(&self, queue: Option<QueueDepth>) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode_registry(&mut out, &self.registry);
        if let Some(depth) = queue {
            let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
            self.queue_length.set(gauge(depth.length));
            self.queue_pending.set(gauge(depth.pending));
            self.dead_letter_queue_length.set(gauge(depth.dead_letters));
            let _ = encode_registry(&mut out, &self.queue_registry);
        }
        let _ = encode_eof(&mut out);
        out
    }
}

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_and_latency_in_seconds() {
        let m = Metrics::default();
        m.request(202);
        m.request(202);
        m.request(418);
        m.call_started(Processor::Fallback);
        m.call_finished(Processor::Fallback, "processed", 7);
        m.call_started(Processor::Fallback);
        m.call_finished(Processor::Fallback, "busy", 1500);
        m.booked(Processor::Fallback);
        m.enqueue_unknown();
        m.ledger_conflict();
        let text = m.render(Some(QueueDepth {
            length: 3,
            pending: 1,
            dead_letters: 0,
        }));
        for line in [
            "rinha_http_requests_total{status=\"202\"} 2",
            "rinha_http_requests_total{status=\"other\"} 1",
            "rinha_http_requests_total{status=\"504\"} 0",
            "rinha_processor_calls_total{processor=\"fallback\",outcome=\"processed\"} 1",
            "rinha_processor_calls_total{processor=\"default\",outcome=\"rejected\"} 0",
            "rinha_processor_inflight{processor=\"fallback\"} 0",
            "rinha_processor_call_duration_seconds_sum{processor=\"fallback\"} 1.507",
            "rinha_processor_call_duration_seconds_count{processor=\"fallback\"} 2",
            "rinha_processor_call_duration_seconds_bucket{le=\"0.008\",processor=\"fallback\"} 1",
            "rinha_processor_call_duration_seconds_bucket{le=\"+Inf\",processor=\"fallback\"} 2",
            "rinha_bookings_total{processor=\"fallback\"} 1",
            "rinha_enqueue_outcome_unknown_total 1",
            "rinha_ledger_conflicts_total 1",
            "rinha_already_booked_total 0",
            "rinha_queue_length 3",
            "rinha_queue_pending 1",
            "rinha_dead_letter_queue_length 0",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn leaves_the_queue_depth_out_when_redis_did_not_answer() {
        let text = Metrics::default().render(None);
        assert!(!text.contains("rinha_queue_length"), "{text}");
        assert!(text.contains("rinha_dead_letters_total 0"), "{text}");
    }
}

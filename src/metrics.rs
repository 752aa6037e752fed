//! Prometheus counters, kept as atomics and rendered as text on `GET /metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::domain::Processor;
use crate::queue::EnqueueOutcome;

/// HTTP statuses the API answers, in the order they are rendered.
const STATUSES: [u16; 13] = [
    200, 202, 400, 404, 405, 408, 409, 413, 415, 422, 500, 503, 504,
];
/// How an unknown enqueue outcome was resolved by looking the id up, in render order.
const RESOLVED: [&str; 3] = ["accepted", "conflict", "absent"];
/// The labels of a call's outcome, as the processor client names them
/// (`CallOutcome::metric_label`); rendered in this order, zeros included.
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

/// Every counter of one process.
#[derive(Default)]
pub struct Metrics {
    requests: [AtomicU64; STATUSES.len() + 1],
    outcomes: [[AtomicU64; CALL_OUTCOMES.len()]; 2],
    call_ms_sum: [AtomicU64; 2],
    call_count: [AtomicU64; 2],
    inflight: [AtomicU64; 2],
    bookings: [AtomicU64; 2],
    dead_letters: AtomicU64,
    ledger_conflicts: AtomicU64,
    already_booked: AtomicU64,
    enqueue_resolved: [AtomicU64; RESOLVED.len()],
    enqueue_unknown: AtomicU64,
}

impl Metrics {
    pub fn request(&self, status: u16) {
        let i = STATUSES
            .iter()
            .position(|&s| s == status)
            .unwrap_or(STATUSES.len());
        self.requests[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn call_started(&self, p: Processor) {
        self.inflight[p.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a finished call; `outcome` is one of [`CALL_OUTCOMES`] (anything else counts
    /// under none of them).
    pub fn call_finished(&self, p: Processor, outcome: &str, elapsed_ms: u64) {
        let i = p.index();
        self.inflight[i].fetch_sub(1, Ordering::Relaxed);
        if let Some(j) = CALL_OUTCOMES.iter().position(|&o| o == outcome) {
            self.outcomes[i][j].fetch_add(1, Ordering::Relaxed);
        }
        self.call_ms_sum[i].fetch_add(elapsed_ms, Ordering::Relaxed);
        self.call_count[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn booked(&self, p: Processor) {
        self.bookings[p.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// An enqueue whose answer was not heard, resolved by a lookup.
    pub fn enqueue_resolved(&self, outcome: EnqueueOutcome) {
        let i = match outcome {
            EnqueueOutcome::Accepted | EnqueueOutcome::Replayed => 0,
            EnqueueOutcome::Conflict => 1,
            EnqueueOutcome::TooLate => 2,
        };
        self.enqueue_resolved[i].fetch_add(1, Ordering::Relaxed);
    }

    /// An enqueue whose outcome stayed unknown (answered 504).
    pub fn enqueue_unknown(&self) {
        self.enqueue_unknown.fetch_add(1, Ordering::Relaxed);
    }

    /// A payment paid at one processor whose ledger row says the other: paid twice.
    pub fn ledger_conflict(&self) {
        self.ledger_conflicts.fetch_add(1, Ordering::Relaxed);
    }

    /// A queue entry whose payment the ledger already had: acknowledged without a call.
    pub fn already_booked(&self, n: u64) {
        self.already_booked.fetch_add(n, Ordering::Relaxed);
    }

    pub fn dead_lettered(&self) {
        self.dead_letters.fetch_add(1, Ordering::Relaxed);
    }

    /// Prometheus text exposition; `queue` adds (stream length, pending, dead letters) when known.
    pub fn render(&self, queue: Option<(u64, u64, u64)>) -> String {
        let mut out = String::new();
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        out.push_str("# TYPE rinha_http_requests_total counter\n");
        for (i, s) in STATUSES.iter().enumerate() {
            let _ = writeln!(
                out,
                "rinha_http_requests_total{{status=\"{s}\"}} {}",
                get(&self.requests[i])
            );
        }
        let _ = writeln!(
            out,
            "rinha_http_requests_total{{status=\"other\"}} {}",
            get(&self.requests[STATUSES.len()])
        );
        out.push_str("# TYPE rinha_processor_calls_total counter\n");
        for p in Processor::ALL {
            for (j, o) in CALL_OUTCOMES.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "rinha_processor_calls_total{{processor=\"{p}\",outcome=\"{o}\"}} {}",
                    get(&self.outcomes[p.index()][j])
                );
            }
        }
        out.push_str("# TYPE rinha_processor_call_milliseconds summary\n");
        for p in Processor::ALL {
            let i = p.index();
            let _ = writeln!(
                out,
                "rinha_processor_call_milliseconds_sum{{processor=\"{p}\"}} {}",
                get(&self.call_ms_sum[i])
            );
            let _ = writeln!(
                out,
                "rinha_processor_call_milliseconds_count{{processor=\"{p}\"}} {}",
                get(&self.call_count[i])
            );
        }
        out.push_str("# TYPE rinha_processor_inflight gauge\n");
        for p in Processor::ALL {
            let _ = writeln!(
                out,
                "rinha_processor_inflight{{processor=\"{p}\"}} {}",
                get(&self.inflight[p.index()])
            );
        }
        out.push_str("# TYPE rinha_bookings_total counter\n");
        for p in Processor::ALL {
            let _ = writeln!(
                out,
                "rinha_bookings_total{{processor=\"{p}\"}} {}",
                get(&self.bookings[p.index()])
            );
        }
        out.push_str("# TYPE rinha_dead_letters_total counter\n");
        let _ = writeln!(out, "rinha_dead_letters_total {}", get(&self.dead_letters));
        out.push_str("# TYPE rinha_ledger_conflicts_total counter\n");
        let _ = writeln!(
            out,
            "rinha_ledger_conflicts_total {}",
            get(&self.ledger_conflicts)
        );
        out.push_str("# TYPE rinha_already_booked_total counter\n");
        let _ = writeln!(
            out,
            "rinha_already_booked_total {}",
            get(&self.already_booked)
        );
        out.push_str("# TYPE rinha_enqueue_outcome_resolved_total counter\n");
        for (i, r) in RESOLVED.iter().enumerate() {
            let _ = writeln!(
                out,
                "rinha_enqueue_outcome_resolved_total{{as=\"{r}\"}} {}",
                get(&self.enqueue_resolved[i])
            );
        }
        out.push_str("# TYPE rinha_enqueue_outcome_unknown_total counter\n");
        let _ = writeln!(
            out,
            "rinha_enqueue_outcome_unknown_total {}",
            get(&self.enqueue_unknown)
        );
        if let Some((len, pending, dead)) = queue {
            out.push_str("# TYPE rinha_queue_length gauge\n");
            let _ = writeln!(out, "rinha_queue_length {len}");
            out.push_str("# TYPE rinha_queue_pending gauge\n");
            let _ = writeln!(out, "rinha_queue_pending {pending}");
            out.push_str("# TYPE rinha_dead_letter_queue_length gauge\n");
            let _ = writeln!(out, "rinha_dead_letter_queue_length {dead}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters() {
        let m = Metrics::default();
        m.request(202);
        m.request(202);
        m.request(418);
        m.call_started(Processor::Fallback);
        m.call_finished(Processor::Fallback, "processed", 7);
        m.booked(Processor::Fallback);
        m.ledger_conflict();
        let text = m.render(Some((3, 1, 0)));
        assert!(text.contains("rinha_http_requests_total{status=\"202\"} 2"));
        assert!(text.contains("rinha_http_requests_total{status=\"other\"} 1"));
        assert!(text.contains(
            "rinha_processor_calls_total{processor=\"fallback\",outcome=\"processed\"} 1"
        ));
        assert!(text.contains("rinha_processor_inflight{processor=\"fallback\"} 0"));
        assert!(text.contains("rinha_bookings_total{processor=\"fallback\"} 1"));
        assert!(text.contains("rinha_queue_length 3"));
        assert!(text.contains("rinha_ledger_conflicts_total 1"));
        assert!(text.contains("rinha_already_booked_total 0"));
    }
}

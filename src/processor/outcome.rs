//! What a processor's answer to `POST /payments` means for the payment.

use std::time::Duration;

/// The meaning of one call's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// 200: processed now; book it.
    Processed,
    /// 422: this processor already stored the id; book it with the requestedAt it stored.
    AlreadyProcessed,
    /// 500: this call was not processed.
    NotProcessed,
    /// The request never left (connection refused before sending): not processed.
    NotSent,
    /// Timeout, reset or crash mid-call: the processor may or may not have stored it.
    Unknown,
    /// 429, 408 or another 5xx: busy or failing; retry on the same processor later.
    Busy { retry_after: Option<Duration> },
    /// 401, 403, 404 or a redirect: the processor is misconfigured; stop routing to it.
    Misconfigured,
    /// 400: the processor refuses this payment itself.
    Rejected,
}

impl CallOutcome {
    /// The outcome's name in `/metrics` (one of `metrics::CALL_OUTCOMES`).
    pub fn metric_label(self) -> &'static str {
        match self {
            CallOutcome::Processed => "processed",
            CallOutcome::AlreadyProcessed => "already_processed",
            CallOutcome::NotProcessed => "not_processed",
            CallOutcome::NotSent => "not_sent",
            CallOutcome::Unknown => "unknown",
            CallOutcome::Busy { .. } => "busy",
            CallOutcome::Misconfigured => "misconfigured",
            CallOutcome::Rejected => "rejected",
        }
    }
}

/// Maps an HTTP status (and its `Retry-After` seconds, if any) to an outcome.
pub fn classify_status(status: u16, retry_after: Option<Duration>) -> CallOutcome {
    match status {
        200..=299 => CallOutcome::Processed,
        422 => CallOutcome::AlreadyProcessed,
        500 => CallOutcome::NotProcessed,
        400 => CallOutcome::Rejected,
        // A redirect is never followed (a 302 would turn the POST into a GET, whose 200 would
        // book a payment nobody stored): the processor's address is wrong.
        300..=399 | 401 | 403 | 404 => CallOutcome::Misconfigured,
        // Anything else (429, 408, 502, 503, 504, unexpected codes) might be transient and
        // might hide a processed payment behind a proxy: stay on this processor.
        _ => CallOutcome::Busy { retry_after },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outcome_table() {
        assert_eq!(classify_status(200, None), CallOutcome::Processed);
        assert_eq!(classify_status(422, None), CallOutcome::AlreadyProcessed);
        assert_eq!(classify_status(500, None), CallOutcome::NotProcessed);
        assert_eq!(classify_status(400, None), CallOutcome::Rejected);
        for s in [401, 403, 404] {
            assert_eq!(classify_status(s, None), CallOutcome::Misconfigured);
        }
        let wait = Some(Duration::from_secs(2));
        for s in [429, 408, 502, 503, 504] {
            assert_eq!(
                classify_status(s, wait),
                CallOutcome::Busy { retry_after: wait }
            );
        }
    }

    #[test]
    fn a_redirect_is_a_misconfigured_processor_never_a_processed_payment() {
        for s in [301, 302, 303, 307, 308] {
            assert_eq!(classify_status(s, None), CallOutcome::Misconfigured, "{s}");
        }
    }

    #[test]
    fn every_outcome_has_a_distinct_metric_label_that_metrics_renders() {
        let all = [
            CallOutcome::Processed,
            CallOutcome::AlreadyProcessed,
            CallOutcome::NotProcessed,
            CallOutcome::NotSent,
            CallOutcome::Unknown,
            CallOutcome::Busy { retry_after: None },
            CallOutcome::Misconfigured,
            CallOutcome::Rejected,
        ];
        let labels: Vec<&str> = all.iter().map(|o| o.metric_label()).collect();
        assert_eq!(labels, crate::metrics::CALL_OUTCOMES);
    }
}

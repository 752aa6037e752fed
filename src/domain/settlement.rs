//! The settlement delay's default: how long a payment may wait for the cheaper processor
//! once the dearer one could take it.
//!
//! Holding a payment through an outage of the cheaper processor saves the fee difference
//! `Δ = f_dear − f_cheap` on it if the outage ends while traffic goes on. If traffic stops
//! during the outage, the payments still held are not settled when the totals are read: each
//! loses `1 − f_dear` against having gone to the dearer processor. For an outage of length
//! `D` placed anywhere in a stretch of traffic of length `L`, it ends in time with chance
//! `(L − D) / L` (saving `λ·D·Δ`) and overlaps the stop with chance `D / L` (stranding
//! `λ·D/2` payments on average). Holding pays while `(L − D)·Δ ≥ D·(1 − f_dear)/2`, so
//!
//! ```text
//! D = L · Δ / (Δ + (1 − f_dear) / 2)
//! ```
//!
//! `L` is the shortest stretch of traffic the deployment plans for (a setting; the contest's
//! load lasts 60 s). Fees 5 % / 15 % and 60 s give 11.4 s; 7 % / 10 % give 3.75 s.

use std::time::Duration;

use crate::domain::Fee;

/// The rule above for the two processors' fees, in whole milliseconds; zero when the fees are
/// equal (nothing to save by waiting).
pub fn settlement_delay(fees: [Fee; 2], traffic_span: Duration) -> Duration {
    let (cheap, dear) = if fees[0] <= fees[1] {
        (fees[0], fees[1])
    } else {
        (fees[1], fees[0])
    };
    // Millionths are exact integers; the ratio is a duration heuristic, not money.
    let delta = f64::from(dear.millionths() - cheap.millionths());
    let stranded = f64::from(1_000_000 - dear.millionths().min(1_000_000)) / 2.0;
    if delta == 0.0 {
        return Duration::ZERO;
    }
    let share = delta / (delta + stranded);
    Duration::from_millis((traffic_span.as_millis() as f64 * share).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fees(a: &str, b: &str) -> [Fee; 2] {
        [Fee::parse(a).unwrap(), Fee::parse(b).unwrap()]
    }

    #[test]
    fn the_contest_fees_hold_about_eleven_seconds_of_a_minute() {
        let d = settlement_delay(fees("0.05", "0.15"), Duration::from_secs(60));
        // 60 s × 0.10 / (0.10 + 0.425)
        assert_eq!(d, Duration::from_millis(11_429));
    }

    #[test]
    fn a_small_fee_difference_holds_briefly() {
        let d = settlement_delay(fees("0.07", "0.10"), Duration::from_secs(60));
        assert_eq!(d, Duration::from_millis(3_750));
    }

    #[test]
    fn the_order_of_the_processors_does_not_matter() {
        let span = Duration::from_secs(300);
        assert_eq!(
            settlement_delay(fees("0.15", "0.05"), span),
            settlement_delay(fees("0.05", "0.15"), span)
        );
    }

    #[test]
    fn equal_fees_never_hold() {
        let d = settlement_delay(fees("0.05", "0.05"), Duration::from_secs(60));
        assert_eq!(d, Duration::ZERO);
    }

    #[test]
    fn the_delay_grows_with_the_span() {
        let f = fees("0.05", "0.15");
        assert!(
            settlement_delay(f, Duration::from_secs(120))
                > settlement_delay(f, Duration::from_secs(60))
        );
    }
}

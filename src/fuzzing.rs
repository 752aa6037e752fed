//! The properties the fuzz targets (`fuzz/`) check, callable from `cargo test` too: the committed
//! corpus is replayed through these same functions by `tests/fuzz_corpus.rs`, so a corpus file
//! that once found a bug stays a regression test without cargo-fuzz.
//!
//! Each function panics (which is what a fuzzer reports) when a property fails: a parser
//! panicking on its own, or a parsed value that does not survive rendering and parsing again.

use crate::api::summary_bounds;
use crate::domain::{
    Millis, PaymentRequest, PaymentRequestError, TimeBound, format_millis, parse_bound,
};

/// `POST /payments` bodies: any bytes parse or are refused with a typed error; an accepted body
/// rendered back (canonical id, amount with two decimals) parses to the same payment.
pub fn payment_body(body: &[u8]) {
    match PaymentRequest::parse(body) {
        Ok(payment) => {
            let rendered = format!(
                r#"{{"correlationId":"{}","amount":{}}}"#,
                payment.correlation_id, payment.amount
            );
            let again = PaymentRequest::parse(rendered.as_bytes())
                .unwrap_or_else(|e| panic!("{rendered} does not parse again: {e}"));
            assert_eq!(again, payment, "{rendered}");
        }
        Err(PaymentRequestError::Malformed(message)) => assert!(!message.is_empty()),
        Err(PaymentRequestError::CorrelationId(_) | PaymentRequestError::Amount(_)) => {}
    }
}

/// `GET /payments-summary` query strings (what the URI hands us is text): bounds with
/// `from <= to`, or a 400.
pub fn summary_query(query: &[u8]) {
    let query = String::from_utf8_lossy(query);
    match summary_bounds(&query) {
        Ok((from, to)) => assert!(from <= to, "?{query}: {from} > {to}"),
        Err(err) => assert_eq!(err.status().as_u16(), 400, "?{query}: {err:?}"),
    }
}

/// Summary bounds: any text parses or is refused naming its parameter; a parsed `from` is at
/// most one millisecond above a parsed `to` of the same text (sub-millisecond rounding), and the
/// millisecond formatted back parses to itself on both sides.
pub fn time_bound(text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    let from = parse_bound(&text, TimeBound::From);
    let to = parse_bound(&text, TimeBound::To);
    match (from, to) {
        (Ok((from_ns, from_ms)), Ok((to_ns, to_ms))) => {
            assert_eq!(from_ns, to_ns, "{text:?}");
            assert!((0..=1).contains(&(from_ms - to_ms)), "{text:?}");
            round_trips(to_ms);
        }
        (Err(from), Err(to)) => {
            assert!(from.to_string().contains("`from`"), "{text:?}");
            assert!(to.to_string().contains("`to`"), "{text:?}");
        }
        (from, to) => panic!("{text:?}: the two sides disagree: {from:?} / {to:?}"),
    }
}

/// A millisecond the processors' format can carry (years 0–9999) parses back to itself.
fn round_trips(ms: Millis) {
    const YEAR_0: Millis = -62_167_219_200_000;
    const YEAR_10000: Millis = 253_402_300_800_000;
    if (YEAR_0..YEAR_10000).contains(&ms) {
        let text = format_millis(ms);
        for side in [TimeBound::From, TimeBound::To] {
            let (_, again) = parse_bound(&text, side).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(again, ms, "{text}");
        }
    }
}

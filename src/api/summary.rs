//! `GET /payments-summary?from&to`: totals per processor from the ledger, in exact cents.

use std::fmt::Write;

use salvo::http::StatusCode;
use salvo::prelude::*;

use super::{Api, ApiError, Reply};
use crate::domain::{Millis, TimeBound, parse_bound};
use crate::ledger::Summary;

pub(super) async fn get(api: &Api, req: &Request) -> Result<Reply, ApiError> {
    let (from, to) = bounds(req.uri().query().unwrap_or(""))?;
    let summary = api
        .ledger
        .summary(from, to)
        .await
        .map_err(|e| ApiError::Unavailable(format!("ledger unavailable: {e}")))?;
    Ok(Reply::Json(StatusCode::OK, render(&summary)))
}

/// Parses `from`/`to` from a raw query string into inclusive millisecond bounds.
fn bounds(query: &str) -> Result<(Millis, Millis), ApiError> {
    let mut from = (i128::MIN, Millis::MIN);
    let mut to = (i128::MAX, Millis::MAX);
    for (key, value) in form_pairs(query) {
        let side = match key.as_str() {
            "from" => TimeBound::From,
            "to" => TimeBound::To,
            _ => continue,
        };
        if value.is_empty() {
            continue;
        }
        let parsed = parse_bound(&value, side).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        match side {
            TimeBound::From => from = parsed,
            TimeBound::To => to = parsed,
        }
    }
    if from.0 > to.0 {
        return Err(ApiError::BadRequest(
            "`from` must not be later than `to`".into(),
        ));
    }
    Ok((from.1, to.1))
}

/// Splits and percent-decodes a query string. A `+` stays a `+` here (a space would be its
/// form-encoding, but timestamps carry `+` offsets, and the time parser reads spaces as `+`).
fn form_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|s| !s.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k), percent_decode(v))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn render(summary: &Summary) -> String {
    let mut out = String::with_capacity(128);
    out.push('{');
    for (i, (name, t)) in [
        ("default", &summary.default),
        ("fallback", &summary.fallback),
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            r#""{name}":{{"totalRequests":{},"totalAmount":"#,
            t.count
        );
        let _ = crate::domain::write_cents(&mut out, t.cents);
        out.push('}');
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::ProcessorTotals;

    #[test]
    fn renders_two_decimals_exactly() {
        let s = Summary {
            default: ProcessorTotals {
                count: 3,
                cents: 5970,
            },
            fallback: ProcessorTotals::default(),
        };
        assert_eq!(
            render(&s),
            r#"{"default":{"totalRequests":3,"totalAmount":59.70},"fallback":{"totalRequests":0,"totalAmount":0.00}}"#
        );
        let v: serde_json::Value = serde_json::from_str(&render(&s)).unwrap();
        assert_eq!(v["default"]["totalRequests"], 3);
    }

    #[test]
    fn bounds_are_optional_and_inclusive() {
        assert_eq!(bounds("").unwrap(), (Millis::MIN, Millis::MAX));
        let (from, to) =
            bounds("from=2025-07-15T12:34:56.000Z&to=2025-07-15T12:34:57.000Z").unwrap();
        assert_eq!((from, to), (1_752_582_896_000, 1_752_582_897_000));
        let (from, _) = bounds("from=2025-07-15T15:34:56.000%2B03:00").unwrap();
        assert_eq!(from, 1_752_582_896_000);
        let (from, _) = bounds("from=2025-07-15T15:34:56.000+03:00").unwrap();
        assert_eq!(from, 1_752_582_896_000);
    }

    #[test]
    fn bad_bounds_are_400_naming_the_parameter() {
        let err = bounds("from=yesterday").unwrap_err();
        assert!(
            matches!(&err, ApiError::BadRequest(m) if m.contains("`from`")),
            "{err:?}"
        );
        let err = bounds("to=nope").unwrap_err();
        assert!(
            matches!(&err, ApiError::BadRequest(m) if m.contains("`to`")),
            "{err:?}"
        );
        let err = bounds("from=2025-07-15T12:34:57Z&to=2025-07-15T12:34:56Z").unwrap_err();
        assert!(matches!(err, ApiError::BadRequest(_)));
    }

    /// Asserts `query` is refused with a 400 whose message names `param`.
    fn assert_refused(query: &str, param: &str) {
        match bounds(query) {
            Err(ApiError::BadRequest(m)) => assert!(m.contains(param), "?{query}: {m}"),
            other => panic!("?{query}: expected a 400 naming {param}, got {other:?}"),
        }
    }

    #[test]
    fn malformed_percent_escapes_are_400_naming_the_parameter() {
        // Raw UTF-8 right after a `%`: the hand-written decoder sliced the text inside `é`
        // and panicked.
        assert_refused("from=%a\u{e9}", "`from`");
        assert_refused("to=%\u{e9}\u{e9}", "`to`");
        for query in ["from=%", "from=%a", "from=%zz", "to=%ff%fe", "from=2025%"] {
            let param = if query.starts_with("to") {
                "`to`"
            } else {
                "`from`"
            };
            assert_refused(query, param);
        }
    }

    #[test]
    fn a_repeated_bound_is_400_naming_it() {
        assert_refused(
            "from=2025-07-15T12:34:56Z&from=2025-07-15T12:34:57Z",
            "`from`",
        );
        // Even when one of them is empty: which one was meant is not ours to guess.
        assert_refused("to=&to=2025-07-15T12:34:57Z", "`to`");
    }

    #[test]
    fn an_overlong_bound_is_400_naming_it_and_other_parameters_are_ignored() {
        // The documented limit is 64 characters; RFC 3339 with nine fraction digits and an
        // offset needs 35.
        let long = format!("from=2025-07-15T12:34:56.{}Z", "0".repeat(60));
        assert_refused(&long, "`from`");
        // Unknown parameters, however many, do not matter.
        let noise = "x=1&".repeat(200);
        assert_eq!(
            bounds(&format!("{noise}to=2025-07-15T12:34:57.000Z")).unwrap(),
            (Millis::MIN, 1_752_582_897_000)
        );
    }

    #[test]
    fn a_query_longer_than_the_limit_is_400() {
        // The documented limit is 1 KiB.
        let query = format!("x={}", "a".repeat(1024));
        assert!(matches!(bounds(&query), Err(ApiError::BadRequest(_))));
    }
}

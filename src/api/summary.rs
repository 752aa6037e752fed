//! `GET /payments-summary?from&to`: totals per processor from the ledger, in exact cents.

use std::borrow::Cow;

use salvo::http::StatusCode;
use salvo::prelude::*;

use super::{Api, ApiError, Reply, json};
use crate::domain::{Millis, TimeBound, parse_bound};
use crate::ledger::{ProcessorTotals, Summary};

pub(super) async fn get(api: &Api, req: &Request) -> Result<Reply, ApiError> {
    let (from, to) = bounds(req.uri().query().unwrap_or(""))?;
    let summary = api
        .ledger
        .summary(from, to)
        .await
        .map_err(|e| ApiError::Unavailable(format!("ledger unavailable: {e}")))?;
    Ok(Reply::Json(StatusCode::OK, render(&summary)))
}

/// The longest query string read, in bytes. nginx already refuses request lines over 8 KiB;
/// a summary query needs well under 100.
pub const MAX_QUERY_BYTES: usize = 1024;

/// The longest `from`/`to` value accepted, in characters after decoding: RFC 3339 with nine
/// fraction digits and an offset needs 35.
pub const MAX_BOUND_CHARS: usize = 64;

/// Parses `from`/`to` from a raw query string into inclusive millisecond bounds.
///
/// The rules (documented in the README): the query is `application/x-www-form-urlencoded`
/// (decoded by `form_urlencoded`, so `+` is a space, which the time parser reads as the `+` of
/// an offset); at most [`MAX_QUERY_BYTES`]; each bound at most once and at most
/// [`MAX_BOUND_CHARS`] long; an empty bound is an open one; other parameters are ignored.
/// Anything else is a 400 naming the parameter. Malformed escapes (`%zz`, a `%` followed by
/// raw UTF-8) decode to themselves or to U+FFFD and then fail the time parser, naming it.
pub fn bounds(query: &str) -> Result<(Millis, Millis), ApiError> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(ApiError::BadRequest(format!(
            "query string longer than {MAX_QUERY_BYTES} bytes"
        )));
    }
    let mut from: Option<Cow<'_, str>> = None;
    let mut to: Option<Cow<'_, str>> = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let (slot, side) = match key.as_ref() {
            "from" => (&mut from, TimeBound::From),
            "to" => (&mut to, TimeBound::To),
            _ => continue,
        };
        let name = side.name();
        if slot.is_some() {
            return Err(ApiError::BadRequest(format!(
                "`{name}` given more than once"
            )));
        }
        if value.chars().count() > MAX_BOUND_CHARS {
            return Err(ApiError::BadRequest(format!(
                "`{name}` longer than {MAX_BOUND_CHARS} characters"
            )));
        }
        *slot = Some(value);
    }
    let parse = |value: Option<Cow<'_, str>>, side, open| match value {
        Some(v) if !v.is_empty() => {
            parse_bound(&v, side).map_err(|e| ApiError::BadRequest(e.to_string()))
        }
        _ => Ok(open),
    };
    let from = parse(from, TimeBound::From, (i128::MIN, Millis::MIN))?;
    let to = parse(to, TimeBound::To, (i128::MAX, Millis::MAX))?;
    if from.0 > to.0 {
        return Err(ApiError::BadRequest(
            "`from` must not be later than `to`".into(),
        ));
    }
    Ok((from.1, to.1))
}

fn render(summary: &Summary) -> String {
    let totals = |t: &ProcessorTotals| json::Totals {
        total_requests: t.count,
        total_amount: t.cents,
    };
    json::to_body(&json::SummaryBody {
        default: totals(&summary.default),
        fallback: totals(&summary.fallback),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

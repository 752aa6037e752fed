//! Millisecond timestamps and the summary's time bounds.

use std::time::{SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// The current wall-clock time in milliseconds.
pub fn now_millis() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

/// Formats a timestamp the way the processors expect: `2025-07-15T12:34:56.000Z`.
pub fn format_millis(ms: Millis) -> String {
    let dt = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.millisecond()
    )
}

/// Parses a processor's timestamp to milliseconds, flooring sub-millisecond precision: RFC 3339
/// (any fraction length, `Z` or an offset), or no zone designator at all, which is UTC — the
/// official processor keeps `requestedAt` in a `timestamp` column and answers it as
/// `2025-07-15T12:34:56.123` (up to 7 fraction digits, trailing zeros dropped).
pub fn parse_millis(text: &str) -> Option<Millis> {
    let text = text.trim_matches('"');
    // `get`, not indexing: byte 10 may fall inside a multi-byte character of a garbage answer.
    let zoneless = text
        .get(10..)
        .is_some_and(|time| !time.is_empty() && !time.contains(['Z', 'z', '+', '-', ' ']));
    let ns = if zoneless {
        parse_nanos(&format!("{text}Z"))
    } else {
        parse_nanos(text)
    };
    ns.map(|ns| ns.div_euclid(1_000_000) as Millis)
}

/// [`parse_rfc3339_nanos`] after forgiving what our clients' timestamps go through: quotes, a
/// `+` that a query string turned into a space, a lowercase `t`.
fn parse_nanos(text: &str) -> Option<i128> {
    // A `+` offset that crossed a query string unencoded arrives as a space.
    let text = text.trim_matches(|c| c == '"').replace(' ', "+");
    let text = if text.len() > 10 && text.as_bytes()[10] == b't' {
        text.to_ascii_uppercase()
    } else {
        text
    };
    parse_rfc3339_nanos(&text)
}

/// Parses an RFC 3339 timestamp exactly as written (any fraction length, `Z` or an offset) to
/// nanoseconds since the epoch; callers floor to milliseconds.
fn parse_rfc3339_nanos(text: &str) -> Option<i128> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(|dt| dt.unix_timestamp_nanos())
}

/// How many digits follow the seconds' decimal point (0 without one).
fn fraction_digits(text: &str) -> usize {
    text.split_once('.').map_or(0, |(_, rest)| {
        rest.bytes().take_while(u8::is_ascii_digit).count()
    })
}

/// Which side of the summary's range a bound is on; decides how sub-millisecond bounds round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeBound {
    From,
    To,
}

impl TimeBound {
    /// The query-string parameter name.
    pub fn name(self) -> &'static str {
        match self {
            TimeBound::From => "from",
            TimeBound::To => "to",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{param}` must be an RFC 3339 timestamp such as 2025-07-15T12:34:56.000Z")]
pub struct TimeBoundError {
    pub param: &'static str,
}

/// Parses a summary bound to the inclusive millisecond it allows.
///
/// Stored `requestedAt` values are whole milliseconds, so an inclusive `from` with sub-millisecond
/// digits rounds up and an inclusive `to` rounds down; the comparison stays exact.
/// Returns the bound in nanoseconds too, so `from > to` can be judged before rounding.
pub fn parse_bound(text: &str, side: TimeBound) -> Result<(i128, Millis), TimeBoundError> {
    let err = TimeBoundError { param: side.name() };
    if fraction_digits(text) > 9 {
        return Err(err);
    }
    let ns = parse_nanos(text).ok_or(err)?;
    let ms = match side {
        TimeBound::From => -((-ns).div_euclid(1_000_000)),
        TimeBound::To => ns.div_euclid(1_000_000),
    };
    Ok((ns, ms as Millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_official_processors_zoneless_timestamps_as_utc() {
        // Its `GET /payments/{id}` answers from a `timestamp` column: no zone, up to 7 fraction
        // digits, trailing zeros dropped.
        assert_eq!(
            parse_millis("2025-07-15T12:34:56.123"),
            Some(1_752_582_896_123)
        );
        assert_eq!(
            parse_millis("2025-07-15T12:34:56.1239999"),
            Some(1_752_582_896_123)
        );
        assert_eq!(parse_millis("2025-07-15T12:34:56"), Some(1_752_582_896_000));
        assert_eq!(
            parse_millis("2025-07-15T12:34:56.1"),
            Some(1_752_582_896_100)
        );
        // An offset still counts, and garbage is still refused.
        assert_eq!(
            parse_millis("2025-07-15T13:34:56.123+01:00"),
            Some(1_752_582_896_123)
        );
        assert_eq!(parse_millis("2025-07-15T12:34"), None);
        assert_eq!(parse_millis("2025-07-15"), None);
        assert_eq!(parse_millis("2025-07-1\u{e9}T12:34:56"), None);
    }

    #[test]
    fn summary_bounds_still_need_a_zone() {
        assert!(parse_bound("2025-07-15T12:34:56.123", TimeBound::From).is_err());
    }

    #[test]
    fn formats_like_the_processors() {
        assert_eq!(format_millis(1_752_582_896_000), "2025-07-15T12:34:56.000Z");
        assert_eq!(format_millis(1_752_582_896_007), "2025-07-15T12:34:56.007Z");
        assert_eq!(
            parse_millis("2025-07-15T12:34:56.007Z"),
            Some(1_752_582_896_007)
        );
    }

    fn from(text: &str) -> Millis {
        parse_bound(text, TimeBound::From).unwrap().1
    }

    fn to(text: &str) -> Millis {
        parse_bound(text, TimeBound::To).unwrap().1
    }

    #[test]
    fn bounds_accept_zero_to_nine_fraction_digits() {
        let base = 1_752_582_896_000;
        assert_eq!(from("2025-07-15T12:34:56Z"), base);
        assert_eq!(from("2025-07-15T12:34:56.1Z"), base + 100);
        assert_eq!(from("2025-07-15T12:34:56.000000001Z"), base + 1);
        assert_eq!(to("2025-07-15T12:34:56.999999999Z"), base + 999);
    }

    #[test]
    fn bounds_refuse_more_than_nine_fraction_digits() {
        // Nanoseconds are the finest a bound means; more digits are a malformed bound (400), as
        // the README says, not silently cut.
        let ten = "2025-07-15T12:34:56.0000000001Z";
        assert!(parse_bound(ten, TimeBound::From).is_err());
        let forty = format!("2025-07-15T12:34:56.{}Z", "1".repeat(40));
        assert!(parse_bound(&forty, TimeBound::To).is_err());
    }

    #[test]
    fn offsets_and_spaces_for_plus() {
        let base = 1_752_582_896_000;
        assert_eq!(from("2025-07-15T15:34:56.000+03:00"), base);
        assert_eq!(from("2025-07-15T15:34:56.000 03:00"), base);
        assert_eq!(to("2025-07-15T09:34:56.000-03:00"), base);
    }

    #[test]
    fn garbage_names_the_parameter() {
        for text in [
            "",
            "yesterday",
            "2025-07-15",
            "2025-07-15T12:34:56",
            "2025-13-15T12:34:56Z",
        ] {
            assert_eq!(
                parse_bound(text, TimeBound::To),
                Err(TimeBoundError { param: "to" }),
                "{text}"
            );
        }
    }
}

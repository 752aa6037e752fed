//! `requestedAt` and the summary's `from`/`to`: ISO-8601 instants, compared in microseconds.
//!
//! The official processor stores `requestedAt` in a PostgreSQL timestamp, whose resolution is
//! one microsecond, and filters with `BETWEEN from AND to`. Comparing microseconds since the
//! epoch reproduces that exactly, including the inclusive bounds.

use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{OffsetDateTime, PrimitiveDateTime};

/// The text is not an ISO-8601 date-time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an ISO-8601 date-time: {0:?}")]
pub struct InvalidTimestamp(pub String);

/// Parses an RFC 3339 date-time (`2025-07-15T12:34:56.000Z`, any offset), or one without an
/// offset (taken as UTC), into microseconds since the Unix epoch
/// (sub-microsecond digits are truncated toward the past, as PostgreSQL stores them).
///
/// The leniencies the service adds for its own summary bounds (quotes, a space for `+`) are
/// deliberately not applied.
pub fn parse_micros(text: &str) -> Result<i64, InvalidTimestamp> {
    let invalid = || InvalidTimestamp(text.to_owned());
    let nanos = OffsetDateTime::parse(text, &Rfc3339)
        .map(|dt| dt.unix_timestamp_nanos())
        .ok()
        .or_else(|| {
            let local = PrimitiveDateTime::parse(text, &Iso8601::DEFAULT).ok()?;
            Some(local.assume_utc().unix_timestamp_nanos())
        })
        .ok_or_else(invalid)?;
    i64::try_from(nanos.div_euclid(1000)).map_err(|_| invalid())
}

/// Writes microseconds since the epoch as the official processor's `GET /payments/{id}` answers
/// them: UTC wall time with no zone designator (its column is a `timestamp` without time zone),
/// the fraction cut to its significant digits and left out when zero, as .NET's JSON writer does
/// (`2025-07-15T12:34:56.123`, `2025-07-15T12:34:56`).
pub fn format_zoneless(micros: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let mut text = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    let fraction = at.microsecond();
    if fraction > 0 {
        let digits = format!("{fraction:06}");
        text.push('.');
        text.push_str(digits.trim_end_matches('0'));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utc_with_millis() {
        assert_eq!(parse_micros("1970-01-01T00:00:01.500Z"), Ok(1_500_000));
        assert_eq!(
            parse_micros("2025-07-15T12:34:56.000Z"),
            Ok(1_752_582_896_000_000)
        );
    }

    #[test]
    fn honours_offsets_and_offsetless_times() {
        assert_eq!(parse_micros("1970-01-01T01:00:00+01:00"), Ok(0));
        assert_eq!(parse_micros("1970-01-01T00:00:02"), Ok(2_000_000));
    }

    #[test]
    fn truncates_below_a_microsecond() {
        assert_eq!(parse_micros("1970-01-01T00:00:00.0000019Z"), Ok(1));
        assert_eq!(parse_micros("1969-12-31T23:59:59.9999999Z"), Ok(-1));
    }

    #[test]
    fn formats_utc_wall_time_with_significant_fraction_digits() {
        assert_eq!(
            format_zoneless(1_752_582_896_123_000),
            "2025-07-15T12:34:56.123"
        );
        assert_eq!(
            format_zoneless(1_752_582_896_000_000),
            "2025-07-15T12:34:56"
        );
        assert_eq!(
            format_zoneless(1_752_582_896_000_010),
            "2025-07-15T12:34:56.00001"
        );
        assert_eq!(format_zoneless(-1), "1969-12-31T23:59:59.999999");
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "yesterday", "2025-13-01T00:00:00Z", "12:00"] {
            assert!(parse_micros(bad).is_err(), "{bad}");
        }
    }
}

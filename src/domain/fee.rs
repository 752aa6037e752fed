//! A processor's fee per transaction, as an exact decimal.

use std::cmp::Ordering;
use std::fmt;

use super::decimal::Scaled;

/// A processor's fee as an exact decimal `units / 10^scale`, so that fees like `0.05` or
/// `0.075` are exact. Read from the configuration with [`Fee::parse`], written canonically;
/// equality and order are by value.
#[derive(Debug, Clone, Copy)]
pub struct Fee {
    units: u64,
    scale: u32,
}

/// Why [`Fee::parse`] refused a fee in the service's configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fee must be a decimal between 0 and 1 with at most 6 decimal places, e.g. 0.05")]
pub struct FeeError;

impl Fee {
    /// The most fraction digits a fee may have: fees are whole millionths.
    const MAX_SCALE: u32 = 6;

    /// Parses a fee of the service's configuration: a fraction between 0 and 1 with at most 6
    /// places, surrounding spaces and a missing integer or fraction part allowed (`.1`, `1.`).
    ///
    /// The result is canonical, at least 2 places without trailing zeros: `1` is `1.00`,
    /// `0.050` is `0.05`.
    pub fn parse(text: &str) -> Result<Self, FeeError> {
        let (int, frac) = split_digits(text.trim()).ok_or(FeeError)?;
        let frac = frac.unwrap_or("");
        if int.is_empty() && frac.is_empty() || frac.len() > Self::MAX_SCALE as usize {
            return Err(FeeError);
        }
        let fee = Self::from_digits(int, frac).ok_or(FeeError)?;
        if fee.units > 10u64.pow(fee.scale) {
            return Err(FeeError);
        }
        Ok(fee.canonical())
    }

    /// `units / 10^scale` from the digits before and after the point; `None` when it does not
    /// fit (too many digits, or more than [`Fee::MAX_SCALE`] places).
    fn from_digits(int: &str, frac: &str) -> Option<Self> {
        let scale = u32::try_from(frac.len())
            .ok()
            .filter(|&s| s <= Self::MAX_SCALE)?;
        let units = format!("{int}{frac}").parse().ok()?;
        Some(Self { units, scale })
    }

    /// The same value written with at least 2 places and no trailing zeros beyond them.
    fn canonical(mut self) -> Self {
        while self.scale > 2 && self.units.is_multiple_of(10) {
            self.units /= 10;
            self.scale -= 1;
        }
        if self.scale < 2 {
            self.units *= 10u64.pow(2 - self.scale);
            self.scale = 2;
        }
        self
    }

    /// The value × 10^[`Fee::MAX_SCALE`], exact: the common footing for comparisons.
    fn at_max_scale(self) -> u128 {
        u128::from(self.units) * 10u128.pow(Self::MAX_SCALE - self.scale)
    }

    /// The fee in millionths of the amount; exact, as [`Fee::parse`] keeps at most 6 places
    /// (a value beyond `u32` saturates).
    pub fn millionths(self) -> u32 {
        u32::try_from(self.at_max_scale()).unwrap_or(u32::MAX)
    }
}

impl Default for Fee {
    /// 0.05, the official default processor's fee.
    fn default() -> Self {
        Self { units: 5, scale: 2 }
    }
}

/// Splits `int.frac` at the first point into two runs of ASCII digits (either may be empty;
/// the fraction is `None` without a point); `None` when anything else is in the text.
fn split_digits(text: &str) -> Option<(&str, Option<&str>)> {
    let (int, frac) = match text.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (text, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    (digits(int) && frac.is_none_or(digits)).then_some((int, frac))
}

impl PartialEq for Fee {
    fn eq(&self, other: &Self) -> bool {
        self.at_max_scale() == other.at_max_scale()
    }
}

impl Eq for Fee {}

impl PartialOrd for Fee {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Fee {
    fn cmp(&self, other: &Self) -> Ordering {
        self.at_max_scale().cmp(&other.at_max_scale())
    }
}

impl fmt::Display for Fee {
    /// The canonical decimal: at least 2 places, no trailing zeros beyond them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Scaled {
            value: i128::from(self.units),
            scale: self.scale,
        }
        .fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_parse_exactly() {
        assert_eq!(Fee::parse("0.05").unwrap().millionths(), 50_000);
        assert_eq!(Fee::parse("0.15").unwrap().millionths(), 150_000);
        assert_eq!(Fee::parse("0.075").unwrap().millionths(), 75_000);
        assert_eq!(Fee::parse("1").unwrap().millionths(), 1_000_000);
        assert_eq!(Fee::parse(".1").unwrap().millionths(), 100_000);
        assert_eq!(Fee::parse("0.05").unwrap().to_string(), "0.05");
        assert_eq!(Fee::parse("0.075").unwrap().to_string(), "0.075");
    }

    #[test]
    fn configured_fees_are_written_canonically() {
        for (text, canonical) in [("1", "1.00"), (".1", "0.10"), ("0.050000", "0.05")] {
            assert_eq!(Fee::parse(text).unwrap().to_string(), canonical, "{text}");
        }
        assert_eq!(Fee::parse(" 1. ").unwrap().to_string(), "1.00");
    }

    #[test]
    fn bad_fees_are_refused() {
        for text in ["", ".", "-0.1", "1.5", "0.1234567", "abc", "0,05"] {
            assert_eq!(Fee::parse(text), Err(FeeError), "{text}");
        }
    }

    #[test]
    fn fees_order_by_value() {
        let fee = |t: &str| Fee::parse(t).unwrap();
        assert!(fee("0.05") < fee("0.15"));
        assert!(fee("0.075") > fee("0.07"));
        assert!(Fee::default() < fee("0.050001"));
    }
}

//! A processor's fee per transaction, as an exact decimal.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use super::decimal::{DecimalError, Scaled};

/// A processor's fee as an exact decimal `units / 10^scale`, so that fees like `0.05` or
/// `0.075` are exact and the fee on an amount ([`Fee::apply`]) is too.
///
/// The scale is kept as written, like a C# `decimal`: the processor emulator reads its fee with
/// [`FromStr`] and reports `0.150` back as `0.150`, with `totalFee` at 2 + 3 places. The
/// service's configuration reads it with [`Fee::parse`], which writes it canonically. Equality
/// and order are by value (`0.15 == 0.150`), as for a C# `decimal`.
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
    /// The most fraction digits a fee may have; keeps `cents × units` well inside an `i128`.
    pub const MAX_SCALE: u32 = 12;

    /// The most fraction digits the service's configuration accepts: fees are whole millionths.
    const CONFIG_SCALE: u32 = 6;

    /// Parses a fee of the service's configuration: a fraction between 0 and 1 with at most 6
    /// places, surrounding spaces and a missing integer or fraction part allowed (`.1`, `1.`).
    ///
    /// The result is canonical, at least 2 places without trailing zeros: `1` is `1.00`,
    /// `0.050` is `0.05`.
    pub fn parse(text: &str) -> Result<Self, FeeError> {
        let (int, frac) = split_digits(text.trim()).ok_or(FeeError)?;
        let frac = frac.unwrap_or("");
        if int.is_empty() && frac.is_empty() || frac.len() > Self::CONFIG_SCALE as usize {
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

    /// The fee in millionths of the amount; exact for every fee [`Fee::parse`] accepts
    /// (finer digits are cut off, a value beyond `u32` saturates).
    pub fn millionths(self) -> u32 {
        let millionths = self.at_max_scale() / 10u128.pow(Self::MAX_SCALE - Self::CONFIG_SCALE);
        u32::try_from(millionths).unwrap_or(u32::MAX)
    }

    /// The fee on an amount of `cents`, exact and unrounded: its scale is the amount's 2 places
    /// plus the fee's (39800 cents at 0.05 is `19.9000`).
    pub fn apply(self, cents: i64) -> Scaled {
        Scaled {
            value: i128::from(cents) * i128::from(self.units),
            scale: self.scale + 2,
        }
    }
}

impl Default for Fee {
    /// 0.05, the official default processor's fee.
    fn default() -> Self {
        Self { units: 5, scale: 2 }
    }
}

impl FromStr for Fee {
    type Err = DecimalError;

    /// Parses a fee as the official processor holds it: any non-negative plain decimal such as
    /// `0.05` or `0.150` (no sign, no exponent, digits on both sides of a point), kept as
    /// written, at most [`Fee::MAX_SCALE`] places.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let syntax = || DecimalError::Syntax(text.to_owned());
        let (int, frac) = split_digits(text).ok_or_else(syntax)?;
        if int.is_empty() || frac == Some("") {
            return Err(syntax());
        }
        Self::from_digits(int, frac.unwrap_or(""))
            .ok_or_else(|| DecimalError::Range(text.to_owned()))
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
    /// The decimal as held: canonical from [`Fee::parse`], as written from [`FromStr`].
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
    fn fee_parses_displays_and_applies_exactly() {
        let fee: Fee = "0.05".parse().unwrap();
        assert_eq!(fee, Fee::default());
        assert_eq!(fee.to_string(), "0.05");
        assert_eq!(fee.apply(39800).to_string(), "19.9000");
        assert_eq!(fee.apply(1990).to_string(), "0.9950");
        let fee: Fee = "0.15".parse().unwrap();
        assert_eq!(fee.apply(1990).to_string(), "2.9850");
        assert_eq!("1".parse::<Fee>().unwrap().apply(1990).to_string(), "19.90");
        for bad in ["", ".05", "0.", "-0.05", "5%", "0.0000000000001"] {
            assert!(bad.parse::<Fee>().is_err(), "{bad}");
        }
    }

    #[test]
    fn processor_fees_keep_their_scale_and_may_exceed_one() {
        let fee: Fee = "0.150".parse().unwrap();
        assert_eq!(fee.to_string(), "0.150");
        assert_eq!(fee.apply(1990).to_string(), "2.98500");
        assert_eq!(fee, "0.15".parse().unwrap());
        assert_eq!("2.5".parse::<Fee>().unwrap().to_string(), "2.5");
        assert_eq!(
            "00.000000000001".parse::<Fee>().unwrap().to_string(),
            "0.000000000001"
        );
        assert!(matches!(
            "0.0000000000001".parse::<Fee>(),
            Err(DecimalError::Range(_))
        ));
        assert!(matches!(".05".parse::<Fee>(), Err(DecimalError::Syntax(_))));
    }

    #[test]
    fn fees_order_by_value() {
        let fee = |t: &str| Fee::parse(t).unwrap();
        assert!(fee("0.05") < fee("0.15"));
        assert!(fee("0.075") > fee("0.07"));
        assert!(Fee::default() < "0.050001".parse().unwrap());
    }
}

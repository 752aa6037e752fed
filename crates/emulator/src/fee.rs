//! The processor's fee per transaction, as an exact decimal kept as written.
//!
//! The emulator's own copy of fee arithmetic, apart from the service's `rinha::domain::Fee`: the
//! emulator is the independent check of the service's money, so it must not share its code.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::decimal::{DecimalError, Scaled};

/// A processor's fee as an exact decimal `units / 10^scale`, so that fees like `0.05` or
/// `0.075` are exact and the fee on an amount ([`Fee::apply`]) is too.
///
/// The scale is kept as written, like a C# `decimal`: the emulator reads its fee with
/// [`FromStr`] and reports `0.150` back as `0.150`, with `totalFee` at 2 + 3 places. Equality
/// and order are by value (`0.15 == 0.150`), as for a C# `decimal`.
#[derive(Debug, Clone, Copy)]
pub struct Fee {
    units: u64,
    scale: u32,
}

impl Fee {
    /// The most fraction digits a fee may have; keeps `cents × units` well inside an `i128`.
    pub const MAX_SCALE: u32 = 12;

    /// The value × 10^[`Fee::MAX_SCALE`], exact: the common footing for comparisons.
    fn at_max_scale(self) -> u128 {
        u128::from(self.units) * 10u128.pow(Self::MAX_SCALE - self.scale)
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
        let (int, frac) = text
            .split_once('.')
            .map_or((text, None), |(i, f)| (i, Some(f)));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(int) || frac.is_some_and(|f| !digits(f)) {
            return Err(syntax());
        }
        let frac = frac.unwrap_or("");
        let range = || DecimalError::Range(text.to_owned());
        let scale = u32::try_from(frac.len())
            .ok()
            .filter(|&s| s <= Self::MAX_SCALE)
            .ok_or_else(range)?;
        let units = format!("{int}{frac}").parse().map_err(|_| range())?;
        Ok(Self { units, scale })
    }
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
    /// The decimal as written.
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
        let fee = |t: &str| t.parse::<Fee>().unwrap();
        assert!(fee("0.05") < fee("0.15"));
        assert!(fee("0.075") > fee("0.07"));
        assert!(Fee::default() < fee("0.050001"));
    }
}

//! Money as integer cents, parsed exactly from the JSON number's text.

use std::fmt;

use super::decimal::{Decimal, Scaled};

/// The largest amount accepted: 1,000,000,000.00.
pub const MAX_AMOUNT_CENTS: i64 = 100_000_000_000;

/// A positive amount of money in integer cents, at most [`MAX_AMOUNT_CENTS`].
///
/// Parsed from the literal JSON text so that `19.90` is exactly 1990 cents and never goes
/// through a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(i64);

/// Why a JSON number is not an acceptable amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount must be a JSON number")]
    NotANumber,
    #[error("amount must be greater than zero")]
    NotPositive,
    #[error("amount must have at most 2 decimal places")]
    TooPrecise,
    #[error("amount must not exceed 1000000000.00")]
    TooLarge,
}

impl Amount {
    /// Builds an amount from cents, refusing values outside (0, MAX].
    pub fn from_cents(cents: i64) -> Result<Self, AmountError> {
        if cents <= 0 {
            Err(AmountError::NotPositive)
        } else if cents > MAX_AMOUNT_CENTS {
            Err(AmountError::TooLarge)
        } else {
            Ok(Self(cents))
        }
    }

    /// Parses the raw text of a JSON value (as `serde_json::value::RawValue` keeps it).
    ///
    /// Anything that is not a JSON number is [`AmountError::NotANumber`], which the API maps to
    /// 400 (wrong JSON type); a number that breaks a business rule maps to 422. Trailing zeros do
    /// not count as precision: `19.900` is exactly 1990 cents.
    pub fn parse_json_number(text: &str) -> Result<Self, AmountError> {
        let number = Decimal::parse(text.trim()).ok_or(AmountError::NotANumber)?;
        if number.digits.is_empty() || number.negative {
            return Err(AmountError::NotPositive);
        }
        if !number.is_exact_at(2) {
            return Err(AmountError::TooPrecise);
        }
        let cents = number.truncated(2).ok_or(AmountError::TooLarge)?;
        Self::from_cents(cents)
    }

    /// The amount in cents.
    pub fn cents(self) -> i64 {
        self.0
    }
}

/// Writes cents as a decimal with exactly two places, e.g. `1990` → `19.90`.
pub fn write_cents(f: &mut impl fmt::Write, cents: i64) -> fmt::Result {
    write!(f, "{}", Scaled::cents(cents))
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_cents(f, self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cents(text: &str) -> Result<i64, AmountError> {
        Amount::parse_json_number(text).map(Amount::cents)
    }

    #[test]
    fn two_places_are_exact_cents() {
        assert_eq!(cents("19.90"), Ok(1990));
        assert_eq!(cents("19.9"), Ok(1990));
        assert_eq!(cents("0.01"), Ok(1));
        assert_eq!(cents("7"), Ok(700));
        assert_eq!(cents("19.900"), Ok(1990));
    }

    #[test]
    fn exponents_are_exact() {
        assert_eq!(cents("1e2"), Ok(10_000));
        assert_eq!(cents("1990e-2"), Ok(1990));
        assert_eq!(cents("1.5E+1"), Ok(1500));
        assert_eq!(cents("1e-3"), Err(AmountError::TooPrecise));
        assert_eq!(cents("1e400"), Err(AmountError::TooLarge));
        assert_eq!(cents("1e-400"), Err(AmountError::TooPrecise));
    }

    #[test]
    fn more_than_two_places_is_refused() {
        assert_eq!(cents("19.999"), Err(AmountError::TooPrecise));
        assert_eq!(cents("0.001"), Err(AmountError::TooPrecise));
    }

    #[test]
    fn non_positive_is_refused() {
        assert_eq!(cents("0"), Err(AmountError::NotPositive));
        assert_eq!(cents("0.00"), Err(AmountError::NotPositive));
        assert_eq!(cents("-0"), Err(AmountError::NotPositive));
        assert_eq!(cents("-1.00"), Err(AmountError::NotPositive));
    }

    #[test]
    fn upper_bound_is_inclusive() {
        assert_eq!(cents("1000000000.00"), Ok(MAX_AMOUNT_CENTS));
        assert_eq!(cents("1000000000.01"), Err(AmountError::TooLarge));
        assert_eq!(cents("99999999999999999999"), Err(AmountError::TooLarge));
    }

    #[test]
    fn non_numbers_are_type_errors() {
        for text in [
            "\"19.90\"",
            "true",
            "null",
            "[]",
            "{}",
            "01",
            "1.",
            ".5",
            "1e",
            "+1",
            "NaN",
            "",
        ] {
            assert_eq!(cents(text), Err(AmountError::NotANumber), "{text}");
        }
    }

    #[test]
    fn display_has_two_places() {
        assert_eq!(Amount::from_cents(1990).unwrap().to_string(), "19.90");
        assert_eq!(Amount::from_cents(5).unwrap().to_string(), "0.05");
        let mut s = String::new();
        write_cents(&mut s, 0).unwrap();
        assert_eq!(s, "0.00");
    }
}

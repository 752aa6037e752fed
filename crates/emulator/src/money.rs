//! Amounts as the official processor reads them: rounded once to whole cents.
//!
//! The official processor keeps amounts in C# `decimal` and PostgreSQL `numeric`, so it
//! never loses a cent to binary floating point and rounds sub-cent digits half away from zero.
//! The lexing is the service's ([`Decimal`]); only the rounding is the processor's.

use crate::decimal::{CutOff, Decimal, DecimalError};

/// Parses a JSON number's text into cents, rounding to 2 places half away from zero
/// (`19.905` → 1991, `-0.005` → -1), exactly.
///
/// Accepts the JSON number grammar (sign, digits, optional fraction, optional exponent);
/// rejects anything that does not fit an `i64` of cents.
pub fn parse_cents(text: &str) -> Result<i64, DecimalError> {
    let number = Decimal::parse(text).ok_or_else(|| DecimalError::Syntax(text.to_owned()))?;
    let range = || DecimalError::Range(text.to_owned());
    // Half away from zero: round the magnitude up, then put the sign back.
    let round_up = number.cut_off(2) == CutOff::HalfOrMore;
    let cents = number.truncated(2).ok_or_else(range)?;
    let cents = cents.checked_add(i64::from(round_up)).ok_or_else(range)?;
    Ok(if number.negative { -cents } else { cents })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_amounts_exactly() {
        assert_eq!(parse_cents("19.90"), Ok(1990));
        assert_eq!(parse_cents("19.9"), Ok(1990));
        assert_eq!(parse_cents("19"), Ok(1900));
        assert_eq!(parse_cents("0"), Ok(0));
        assert_eq!(parse_cents("0.01"), Ok(1));
    }

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(parse_cents("19.905"), Ok(1991));
        assert_eq!(parse_cents("19.9049999"), Ok(1990));
        assert_eq!(parse_cents("0.005"), Ok(1));
        assert_eq!(parse_cents("0.0049"), Ok(0));
        assert_eq!(parse_cents("-0.005"), Ok(-1));
        assert_eq!(parse_cents("-19.915"), Ok(-1992));
        assert_eq!(parse_cents("0.000000001"), Ok(0));
    }

    #[test]
    fn honours_exponents() {
        assert_eq!(parse_cents("1e2"), Ok(10000));
        assert_eq!(parse_cents("1.5E-2"), Ok(2));
        assert_eq!(parse_cents("1990e-2"), Ok(1990));
        assert_eq!(parse_cents("0e999"), Ok(0));
    }

    #[test]
    fn rejects_non_numbers_and_overflow() {
        for bad in [
            "", "-", "01", "1.", ".5", "1e", "+1", "1,5", "abc", "\"1\"", "NaN",
        ] {
            assert!(
                matches!(parse_cents(bad), Err(DecimalError::Syntax(_))),
                "{bad}"
            );
        }
        assert!(matches!(parse_cents("1e30"), Err(DecimalError::Range(_))));
        assert!(matches!(
            parse_cents("1e9999999"),
            Err(DecimalError::Range(_))
        ));
        assert!(matches!(
            parse_cents("92233720368547758.08"),
            Err(DecimalError::Range(_))
        ));
    }
}

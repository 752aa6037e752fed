//! Exact money: amounts as integer cents, the fee as a scaled decimal.
//!
//! The official processor keeps amounts in C# `decimal` and PostgreSQL `numeric`, so it never
//! loses a cent to binary floating point. The emulator does the same with integers: an amount
//! is parsed from the JSON number's *text* (never through `f64`) and rounded once, to cents.

use std::fmt;
use std::str::FromStr;

/// Why a decimal text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not a JSON-style decimal number (`-12.345`, `1e2`, ...).
    #[error("not a decimal number: {0:?}")]
    Syntax(String),
    /// The value does not fit the integer it is stored in.
    #[error("decimal number out of range: {0:?}")]
    Range(String),
}

/// Parses a JSON number's text into cents, rounding to 2 places half away from zero
/// (`19.905` → 1991, `-0.005` → -1), exactly.
///
/// Accepts the JSON number grammar (sign, digits, optional fraction, optional exponent);
/// rejects anything that does not fit an `i64` of cents.
pub fn parse_cents(text: &str) -> Result<i64, MoneyError> {
    let number = Decimal::parse(text)?;
    let range = || MoneyError::Range(text.to_owned());
    // value = digits × 10^exponent, so cents = digits × 10^(exponent + 2).
    let shift = number.exponent + 2;
    let digits = number.digits.as_bytes();
    let (kept, round_up) = if shift >= 0 {
        (digits, false)
    } else {
        let dropped = usize::try_from(-shift).map_err(|_| range())?;
        if dropped > digits.len() {
            // Every digit is below a tenth of a cent: it rounds to zero.
            (&digits[..0], false)
        } else {
            let (kept, rest) = digits.split_at(digits.len() - dropped);
            // Half away from zero: round the magnitude up iff the first dropped digit is ≥ 5.
            (kept, rest.first().is_some_and(|d| *d >= b'5'))
        }
    };
    let mut cents: i64 = 0;
    for digit in kept {
        cents = cents
            .checked_mul(10)
            .and_then(|c| c.checked_add(i64::from(digit - b'0')))
            .ok_or_else(range)?;
    }
    if shift > 0 && cents != 0 {
        let scale = 10i64.checked_pow(u32::try_from(shift).map_err(|_| range())?);
        cents = scale.and_then(|s| cents.checked_mul(s)).ok_or_else(range)?;
    }
    if round_up {
        cents = cents.checked_add(1).ok_or_else(range)?;
    }
    Ok(if number.negative { -cents } else { cents })
}

/// A decimal number split into its significant digits and a power of ten.
struct Decimal {
    negative: bool,
    /// Integer and fraction digits, without leading zeros (may be empty for zero).
    digits: String,
    exponent: i64,
}

impl Decimal {
    /// Parses the JSON number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn parse(text: &str) -> Result<Self, MoneyError> {
        let syntax = || MoneyError::Syntax(text.to_owned());
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(at) => (&rest[..at], Some(&rest[at + 1..])),
            None => (rest, None),
        };
        let (int, frac) = match mantissa.split_once('.') {
            Some((int, frac)) => (int, Some(frac)),
            None => (mantissa, None),
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int) || (int.len() > 1 && int.starts_with('0')) {
            return Err(syntax());
        }
        let frac = match frac {
            Some(f) if all_digits(f) => f,
            Some(_) => return Err(syntax()),
            None => "",
        };
        let exponent: i64 = match exponent {
            Some(e) => {
                let unsigned = e.strip_prefix(['+', '-']).unwrap_or(e);
                if !all_digits(unsigned) || unsigned.len() > 6 {
                    // Six exponent digits already mean far beyond any i64 of cents.
                    return Err(if all_digits(unsigned) {
                        MoneyError::Range(text.to_owned())
                    } else {
                        syntax()
                    });
                }
                e.parse().map_err(|_| syntax())?
            }
            None => 0,
        };
        let frac_len = i64::try_from(frac.len()).map_err(|_| syntax())?;
        let digits = format!("{int}{frac}").trim_start_matches('0').to_owned();
        Ok(Self {
            negative,
            digits,
            exponent: exponent - frac_len,
        })
    }
}

/// Formats `value / 10^scale` as a plain decimal, e.g. `(1990, 2)` → `19.90`, `(-5, 2)` → `-0.05`.
///
/// Used to write exact money into JSON numbers.
pub fn format_scaled(value: i128, scale: u32) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let magnitude = value.unsigned_abs().to_string();
    if scale == 0 {
        return format!("{sign}{magnitude}");
    }
    let scale = scale as usize;
    let padded = format!("{magnitude:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

/// Formats cents as a decimal with exactly two places (`1990` → `19.90`).
pub fn format_cents(cents: i64) -> String {
    format_scaled(i128::from(cents), 2)
}

/// The fee per transaction as an exact decimal: `units / 10^scale` (0.05 is 5 at scale 2).
///
/// Kept in the scale it was written with, like a C# `decimal`, so that the admin summary's
/// `totalFee` (amount × fee) is exact and `feePerTransaction` reads back as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fee {
    units: u64,
    scale: u32,
}

impl Fee {
    /// The most fraction digits a fee may have; keeps `cents × units` well inside an `i128`.
    pub const MAX_SCALE: u32 = 12;

    /// The fee of `units / 10^scale`; `None` when `scale` exceeds [`Fee::MAX_SCALE`].
    pub fn new(units: u64, scale: u32) -> Option<Self> {
        (scale <= Self::MAX_SCALE).then_some(Self { units, scale })
    }

    /// The fee on an amount of `cents`, exact, as `(value, scale)`: `value / 10^scale` units
    /// of money. The scale is the amount's 2 places plus the fee's.
    pub fn apply(self, cents: i64) -> (i128, u32) {
        (i128::from(cents) * i128::from(self.units), self.scale + 2)
    }

    /// The fee on `cents` as a JSON-ready decimal text, e.g. 39800 cents at 0.05 → `19.9000`.
    pub fn apply_text(self, cents: i64) -> String {
        let (value, scale) = self.apply(cents);
        format_scaled(value, scale)
    }
}

impl Default for Fee {
    /// 0.05, the official default processor's fee.
    fn default() -> Self {
        Self { units: 5, scale: 2 }
    }
}

impl FromStr for Fee {
    type Err = MoneyError;

    /// Parses a non-negative plain decimal such as `0.05` or `0.15` (no sign, no exponent).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let syntax = || MoneyError::Syntax(text.to_owned());
        let (int, frac) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty()
            || !digits(int)
            || !digits(frac)
            || (text.contains('.') && frac.is_empty())
        {
            return Err(syntax());
        }
        let scale = u32::try_from(frac.len()).map_err(|_| syntax())?;
        let units: u64 = format!("{int}{frac}")
            .parse()
            .map_err(|_| MoneyError::Range(text.to_owned()))?;
        Self::new(units, scale).ok_or_else(|| MoneyError::Range(text.to_owned()))
    }
}

impl fmt::Display for Fee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_scaled(i128::from(self.units), self.scale))
    }
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
                matches!(parse_cents(bad), Err(MoneyError::Syntax(_))),
                "{bad}"
            );
        }
        assert!(matches!(parse_cents("1e30"), Err(MoneyError::Range(_))));
        assert!(matches!(
            parse_cents("1e9999999"),
            Err(MoneyError::Range(_))
        ));
        assert!(matches!(
            parse_cents("92233720368547758.08"),
            Err(MoneyError::Range(_))
        ));
    }

    #[test]
    fn formats_scaled_decimals() {
        assert_eq!(format_cents(1990), "19.90");
        assert_eq!(format_cents(5), "0.05");
        assert_eq!(format_cents(-5), "-0.05");
        assert_eq!(format_cents(0), "0.00");
        assert_eq!(format_scaled(42, 0), "42");
    }

    #[test]
    fn fee_parses_displays_and_applies_exactly() {
        let fee: Fee = "0.05".parse().unwrap();
        assert_eq!(fee, Fee::default());
        assert_eq!(fee.to_string(), "0.05");
        assert_eq!(fee.apply_text(39800), "19.9000");
        assert_eq!(fee.apply_text(1990), "0.9950");
        let fee: Fee = "0.15".parse().unwrap();
        assert_eq!(fee.apply_text(1990), "2.9850");
        assert_eq!("1".parse::<Fee>().unwrap().apply_text(1990), "19.90");
        for bad in ["", ".05", "0.", "-0.05", "5%", "0.0000000000001"] {
            assert!(bad.parse::<Fee>().is_err(), "{bad}");
        }
    }
}

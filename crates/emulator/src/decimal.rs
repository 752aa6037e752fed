//! Exact decimal text: JSON numbers in ([`Decimal`]), scaled integers out ([`Scaled`]).
//!
//! Money never goes through `f64`. This is the emulator's own copy, apart from the service's
//! `rinha::domain`: the emulator rounds sub-cent amounts like the official processor (the
//! service refuses them) and is the independent check of the service's money, so the two must
//! not share code that a single bug could break in both.

use std::fmt;

/// Why a decimal text was refused; carries the text for the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// Not a decimal number in the expected grammar.
    #[error("not a decimal number: {0:?}")]
    Syntax(String),
    /// The value does not fit the integer it is stored in.
    #[error("decimal number out of range: {0:?}")]
    Range(String),
}

/// A JSON number literal (RFC 8259) as exact significant digits and a power of ten:
/// `value = ±digits × 10^exponent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal {
    pub negative: bool,
    /// The significant digits, without leading or trailing zeros: empty exactly for zero.
    pub digits: String,
    /// The power of ten to apply to `digits`. Saturates for absurd exponents
    /// (`1e99999999999999999999`), which every caller refuses or rounds away anyway.
    pub exponent: i64,
}

impl Decimal {
    /// Lexes `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`; `None` for anything else,
    /// including surrounding whitespace (callers trim where their input may carry it).
    pub fn parse(text: &str) -> Option<Self> {
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
            return None;
        }
        let frac = match frac {
            Some(f) if all_digits(f) => f,
            Some(_) => return None,
            None => "",
        };
        let exponent = match exponent {
            Some(e) => {
                let (negative, magnitude) = match e.strip_prefix('-') {
                    Some(m) => (true, m),
                    None => (false, e.strip_prefix('+').unwrap_or(e)),
                };
                if !all_digits(magnitude) {
                    return None;
                }
                // All digits, so the only failure is overflow.
                let magnitude: i64 = magnitude.parse().unwrap_or(i64::MAX);
                if negative { -magnitude } else { magnitude }
            }
            None => 0,
        };
        let all = format!("{int}{frac}");
        let significant = all.trim_start_matches('0');
        let digits = significant.trim_end_matches('0');
        // Trailing zeros move into the exponent: 19.90 is 199 × 10^-1.
        let trailing = (significant.len() - digits.len()) as i64;
        let exponent = exponent
            .saturating_sub(frac.len() as i64)
            .saturating_add(trailing);
        Some(Self {
            negative,
            digits: digits.to_owned(),
            exponent,
        })
    }

    /// `|value| × 10^places` with the fraction cut off (toward zero); `None` when that does
    /// not fit an `i64`. [`Decimal::cut_off`] tells what was lost.
    pub fn truncated(&self, places: u32) -> Option<i64> {
        let (shift, cut) = self.shift(places);
        let kept = &self.digits[..self.digits.len().saturating_sub(cut)];
        let mut whole: i64 = 0;
        for digit in kept.bytes() {
            whole = whole
                .checked_mul(10)?
                .checked_add(i64::from(digit - b'0'))?;
        }
        if whole != 0 && shift > 0 {
            whole = whole.checked_mul(10i64.checked_pow(u32::try_from(shift).ok()?)?)?;
        }
        Some(whole)
    }

    /// What [`Decimal::truncated`] cuts off at `places`, measured in units of the last place
    /// kept: enough to refuse it (exact parsing) or to round on it (half away from zero).
    pub fn cut_off(&self, places: u32) -> CutOff {
        let (_, cut) = self.shift(places);
        if cut == 0 || self.digits.is_empty() {
            CutOff::Nothing
        } else if cut > self.digits.len() {
            // The first place cut off is a zero in front of the significant digits.
            CutOff::BelowHalf
        } else if self.digits.as_bytes()[self.digits.len() - cut] >= b'5' {
            CutOff::HalfOrMore
        } else {
            // Not zero: the digits cut off end in a significant (non-zero) digit.
            CutOff::BelowHalf
        }
    }

    /// The power of ten that takes `digits` to `places` places, and how many of the digits'
    /// places that cuts off (more than `digits.len()` when zeros stand in front of them).
    fn shift(&self, places: u32) -> (i64, usize) {
        let shift = self.exponent.saturating_add(i64::from(places));
        let cut = usize::try_from(shift.min(0).unsigned_abs()).unwrap_or(usize::MAX);
        (shift, cut)
    }
}

/// The part of a [`Decimal`] that [`Decimal::truncated`] drops, against half a unit of the last
/// place kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutOff {
    /// The truncation is exact.
    Nothing,
    /// More than zero, less than half.
    BelowHalf,
    /// Half or more.
    HalfOrMore,
}

/// An exact decimal `value / 10^scale`, displayed in plain notation with exactly `scale`
/// places (`1990` at scale 2 is `19.90`), ready to be a JSON number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scaled {
    pub value: i128,
    pub scale: u32,
}

impl Scaled {
    /// Cents as money with two places.
    pub fn cents(cents: i64) -> Self {
        Self {
            value: i128::from(cents),
            scale: 2,
        }
    }
}

impl fmt::Display for Scaled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.value < 0 { "-" } else { "" };
        let magnitude = self.value.unsigned_abs();
        let width = self.scale as usize;
        match 10u128.checked_pow(self.scale) {
            Some(1) => write!(f, "{sign}{magnitude}"),
            Some(unit) => write!(f, "{sign}{}.{:0width$}", magnitude / unit, magnitude % unit),
            // 10^scale exceeds every u128, so the whole magnitude is fraction.
            None => write!(f, "{sign}0.{magnitude:0width$}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(text: &str) -> Option<(bool, String, i64)> {
        Decimal::parse(text).map(|d| (d.negative, d.digits, d.exponent))
    }

    #[test]
    fn keeps_only_significant_digits() {
        assert_eq!(lex("19.90"), Some((false, "199".into(), -1)));
        assert_eq!(lex("-0.0050"), Some((true, "5".into(), -3)));
        assert_eq!(lex("1200"), Some((false, "12".into(), 2)));
        assert_eq!(lex("1.5E+1"), Some((false, "15".into(), 0)));
        assert_eq!(lex("0.000"), Some((false, String::new(), -3)));
        assert_eq!(lex("0e999"), Some((false, String::new(), 999)));
    }

    #[test]
    fn absurd_exponents_saturate() {
        assert_eq!(lex("1e99999999999999999999").unwrap().2, i64::MAX);
        assert_eq!(lex("1e-99999999999999999999").unwrap().2, -i64::MAX);
    }

    #[test]
    fn refuses_what_json_refuses() {
        for text in [
            "", "-", "01", "1.", ".5", "1e", "1e+", "1e+-2", "+1", "1,5", "NaN", "\"1\"", " 1",
        ] {
            assert_eq!(Decimal::parse(text), None, "{text}");
        }
    }

    #[test]
    fn truncates_and_reports_what_it_cut() {
        let at_cents = |text: &str| {
            let d = Decimal::parse(text).unwrap();
            (d.truncated(2), d.cut_off(2))
        };
        assert_eq!(at_cents("19.905"), (Some(1990), CutOff::HalfOrMore));
        assert_eq!(at_cents("19.9049"), (Some(1990), CutOff::BelowHalf));
        assert_eq!(at_cents("0.0049"), (Some(0), CutOff::BelowHalf));
        assert_eq!(at_cents("0.0009"), (Some(0), CutOff::BelowHalf));
        assert_eq!(at_cents("1e2"), (Some(10_000), CutOff::Nothing));
        assert_eq!(at_cents("19.900"), (Some(1990), CutOff::Nothing));
        assert_eq!(
            at_cents("1e-99999999999999999999"),
            (Some(0), CutOff::BelowHalf)
        );
        assert_eq!(at_cents("1e30"), (None, CutOff::Nothing));
        assert_eq!(at_cents("0e999"), (Some(0), CutOff::Nothing));
    }

    #[test]
    fn scaled_writes_exactly_scale_places() {
        assert_eq!(Scaled::cents(1990).to_string(), "19.90");
        assert_eq!(Scaled::cents(-5).to_string(), "-0.05");
        assert_eq!(Scaled::cents(0).to_string(), "0.00");
        assert_eq!(
            Scaled {
                value: 42,
                scale: 0
            }
            .to_string(),
            "42"
        );
        assert_eq!(
            Scaled {
                value: 1990,
                scale: 4
            }
            .to_string(),
            "0.1990"
        );
        assert_eq!(
            Scaled {
                value: 7,
                scale: 40
            }
            .to_string(),
            format!("0.{:0>40}", 7)
        );
    }
}

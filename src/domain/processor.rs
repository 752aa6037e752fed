//! The two payment processors and their fees.

use std::fmt;
use std::str::FromStr;

/// Which payment processor handled (or will handle) a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Processor {
    Default,
    Fallback,
}

impl Processor {
    pub const ALL: [Processor; 2] = [Processor::Default, Processor::Fallback];

    /// The name used in the summary JSON, the ledger and Redis keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Processor::Default => "default",
            Processor::Fallback => "fallback",
        }
    }

    /// The other processor.
    pub fn other(self) -> Processor {
        match self {
            Processor::Default => Processor::Fallback,
            Processor::Fallback => Processor::Default,
        }
    }

    /// A dense index for per-processor arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Processor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Processor {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "default" => Ok(Processor::Default),
            "fallback" => Ok(Processor::Fallback),
            _ => Err(()),
        }
    }
}

/// A processor's fee as an exact fraction in basis points of a basis point (1e-6 units), so that
/// fees like `0.05` or `0.075` are exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fee {
    millionths: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fee must be a decimal between 0 and 1 with at most 6 decimal places, e.g. 0.05")]
pub struct FeeError;

impl Fee {
    /// Parses a decimal fraction such as `0.05`.
    pub fn parse(text: &str) -> Result<Self, FeeError> {
        let text = text.trim();
        let (int, frac) = text.split_once('.').unwrap_or((text, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || frac.len() > 6
        {
            return Err(FeeError);
        }
        let int: u32 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| FeeError)?
        };
        let mut frac_value: u32 = 0;
        for (i, b) in frac.bytes().enumerate() {
            frac_value += u32::from(b - b'0') * 10u32.pow(5 - i as u32);
        }
        let millionths = int
            .checked_mul(1_000_000)
            .and_then(|v| v.checked_add(frac_value))
            .ok_or(FeeError)?;
        if millionths > 1_000_000 {
            return Err(FeeError);
        }
        Ok(Self { millionths })
    }

    /// The fee in millionths of the amount.
    pub fn millionths(self) -> u32 {
        self.millionths
    }

    /// What we keep of `cents` after this fee, in millionths of a cent (exact).
    pub fn net_micro_cents(self, cents: i64) -> i128 {
        i128::from(cents) * i128::from(1_000_000 - self.millionths)
    }
}

impl fmt::Display for Fee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let frac = format!("{:06}", self.millionths % 1_000_000);
        let frac = frac.trim_end_matches('0');
        let frac = if frac.len() < 2 {
            format!("{frac:0<2}")
        } else {
            frac.to_owned()
        };
        write!(f, "{}.{}", self.millionths / 1_000_000, frac)
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
    fn bad_fees_are_refused() {
        for text in ["", ".", "-0.1", "1.5", "0.1234567", "abc", "0,05"] {
            assert_eq!(Fee::parse(text), Err(FeeError), "{text}");
        }
    }

    #[test]
    fn processors_round_trip_their_names() {
        for p in Processor::ALL {
            assert_eq!(p.as_str().parse::<Processor>(), Ok(p));
            assert_eq!(p.other().other(), p);
        }
    }
}

//! The two payment processors.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processors_round_trip_their_names() {
        for p in Processor::ALL {
            assert_eq!(p.as_str().parse::<Processor>(), Ok(p));
        }
    }
}

//! The payment's correlation id: a UUID held as 128 bits.
//!
//! The official processor binds it to a C# `Guid`, so equal ids in different spellings
//! (upper/lower case) are the same payment, and it is always written back in the canonical
//! lowercase hyphenated form.

use std::fmt;
use std::str::FromStr;

/// A UUID-shaped payment id (any version; the processor does not check it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CorrelationId(u128);

/// The text is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a UUID: {0:?}")]
pub struct InvalidCorrelationId(pub String);

impl CorrelationId {
    /// The id's 128 bits, big-endian as written.
    pub fn as_u128(self) -> u128 {
        self.0
    }

    /// Parses the hyphenated form only (`8-4-4-4-12` hex digits), as the processor's JSON
    /// reader does for a `Guid` field.
    pub fn parse_hyphenated(text: &str) -> Result<Self, InvalidCorrelationId> {
        let bytes = text.as_bytes();
        let hyphens_ok = bytes.len() == 36
            && [8, 13, 18, 23].iter().all(|&at| bytes[at] == b'-')
            && bytes.iter().filter(|&&b| b == b'-').count() == 4;
        if !hyphens_ok {
            return Err(InvalidCorrelationId(text.to_owned()));
        }
        Self::from_hex(text.bytes().filter(|&b| b != b'-'), text)
    }

    /// Parses any form a C# `Guid` route parameter accepts: hyphenated, 32 bare hex digits,
    /// or hyphenated inside `{}` or `()`.
    pub fn parse_lenient(text: &str) -> Result<Self, InvalidCorrelationId> {
        let inner = text
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .or_else(|| text.strip_prefix('(').and_then(|t| t.strip_suffix(')')));
        match inner {
            Some(inner) => Self::parse_hyphenated(inner),
            None if text.len() == 32 => Self::from_hex(text.bytes(), text),
            None => Self::parse_hyphenated(text),
        }
    }

    fn from_hex(
        digits: impl Iterator<Item = u8>,
        text: &str,
    ) -> Result<Self, InvalidCorrelationId> {
        let mut value: u128 = 0;
        let mut count = 0;
        for digit in digits {
            let nibble = (digit as char)
                .to_digit(16)
                .ok_or_else(|| InvalidCorrelationId(text.to_owned()))?;
            value = (value << 4) | u128::from(nibble);
            count += 1;
        }
        if count != 32 {
            return Err(InvalidCorrelationId(text.to_owned()));
        }
        Ok(Self(value))
    }
}

impl FromStr for CorrelationId {
    type Err = InvalidCorrelationId;

    /// Same as [`CorrelationId::parse_lenient`].
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse_lenient(text)
    }
}

impl fmt::Display for CorrelationId {
    /// The canonical lowercase hyphenated form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = format!("{:032x}", self.0);
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4a7901b8-7d26-4d9d-aa19-4dc1c7cf60b3";

    #[test]
    fn round_trips_the_canonical_form() {
        let id = CorrelationId::parse_hyphenated(ID).unwrap();
        assert_eq!(id.to_string(), ID);
    }

    #[test]
    fn is_case_insensitive() {
        let upper = CorrelationId::parse_hyphenated(&ID.to_uppercase()).unwrap();
        assert_eq!(upper, CorrelationId::parse_hyphenated(ID).unwrap());
        assert_eq!(upper.to_string(), ID);
    }

    #[test]
    fn lenient_form_accepts_what_a_guid_route_accepts() {
        let id = CorrelationId::parse_hyphenated(ID).unwrap();
        assert_eq!(ID.replace('-', "").parse(), Ok(id));
        assert_eq!(format!("{{{ID}}}").parse(), Ok(id));
        assert_eq!(format!("({ID})").parse(), Ok(id));
    }

    #[test]
    fn rejects_what_is_not_a_uuid() {
        for bad in [
            "",
            "not-a-uuid",
            "4a7901b8-7d26-4d9d-aa19-4dc1c7cf60b",
            "4a7901b87-d26-4d9d-aa19-4dc1c7cf60b3",
            "4a7901b8-7d26-4d9d-aa19-4dc1c7cf60bg",
            "+a7901b8-7d26-4d9d-aa19-4dc1c7cf60b3",
        ] {
            assert!(CorrelationId::parse_lenient(bad).is_err(), "{bad}");
        }
        assert!(CorrelationId::parse_hyphenated(&ID.replace('-', "")).is_err());
    }
}

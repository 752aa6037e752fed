//! The payment's correlation id as the official processor reads it.
//!
//! The official processor binds it to a C# `Guid`, so equal ids in different spellings
//! (upper/lower case) are the same payment, and it is always written back in the canonical
//! lowercase hyphenated form. Besides that form it reads the other spellings a `Guid` route
//! parameter accepts. The parsing is the emulator's own, apart from the service's.

use std::fmt;
use std::str::FromStr;

/// A UUID-shaped payment id (any version; the processor does not check it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CorrelationId([u8; 36]);

/// The text is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a UUID: {0:?}")]
pub struct InvalidCorrelationId(pub String);

impl CorrelationId {
    /// Parses the hyphenated form only (`8-4-4-4-12` hex digits, any case), as the processor's
    /// JSON reader does for a `Guid` field: the service's rule too.
    pub fn parse_hyphenated(text: &str) -> Result<Self, InvalidCorrelationId> {
        let invalid = || InvalidCorrelationId(text.to_owned());
        let bytes: [u8; 36] = text.as_bytes().try_into().map_err(|_| invalid())?;
        let mut canonical = [0u8; 36];
        for (i, (&b, out)) in bytes.iter().zip(&mut canonical).enumerate() {
            *out = match (i, b) {
                (8 | 13 | 18 | 23, b'-') => b,
                (8 | 13 | 18 | 23, _) => return Err(invalid()),
                (_, b) if b.is_ascii_hexdigit() => b.to_ascii_lowercase(),
                _ => return Err(invalid()),
            };
        }
        Ok(Self(canonical))
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
            None if text.len() == 32 && text.is_ascii() => {
                // The bare form is the hyphenated one without its hyphens.
                let hyphenated = format!(
                    "{}-{}-{}-{}-{}",
                    &text[..8],
                    &text[8..12],
                    &text[12..16],
                    &text[16..20],
                    &text[20..]
                );
                Self::parse_hyphenated(&hyphenated)
                    .map_err(|_| InvalidCorrelationId(text.to_owned()))
            }
            None => Self::parse_hyphenated(text),
        }
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
        // Only ASCII hex digits and hyphens are ever stored.
        f.write_str(std::str::from_utf8(&self.0).map_err(|_| fmt::Error)?)
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

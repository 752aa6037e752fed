//! The client's payment id: a UUID in its canonical hyphenated form.

use std::fmt;

/// A correlation id, always stored as 36 lowercase hyphenated characters.
///
/// Only the hyphenated form is accepted (any letter case); braced, URN and bare-hex forms are
/// refused so that one payment has exactly one spelling as a dedupe key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CorrelationId([u8; 36]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("correlationId must be a UUID in the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx")]
pub struct CorrelationIdError;

impl CorrelationId {
    /// Parses and canonicalises (lowercases) a hyphenated UUID.
    pub fn parse(text: &str) -> Result<Self, CorrelationIdError> {
        let bytes = text.as_bytes();
        if bytes.len() != 36 {
            return Err(CorrelationIdError);
        }
        let mut out = [0u8; 36];
        for (i, &b) in bytes.iter().enumerate() {
            out[i] = match i {
                8 | 13 | 18 | 23 if b == b'-' => b,
                8 | 13 | 18 | 23 => return Err(CorrelationIdError),
                _ if b.is_ascii_hexdigit() => b.to_ascii_lowercase(),
                _ => return Err(CorrelationIdError),
            };
        }
        Ok(Self(out))
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits and hyphens are ever stored.
        std::str::from_utf8(&self.0).expect("correlation id is ASCII")
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_is_lowercase() {
        let id = CorrelationId::parse("4A7901B8-7D26-4D9D-AA19-4DC1C7CF60B3").unwrap();
        assert_eq!(id.as_str(), "4a7901b8-7d26-4d9d-aa19-4dc1c7cf60b3");
    }

    #[test]
    fn other_forms_are_refused() {
        for text in [
            "{4a7901b8-7d26-4d9d-aa19-4dc1c7cf60b3}",
            "urn:uuid:4a7901b8-7d26-4d9d-aa19-4dc1c7cf60b3",
            "4a7901b87d264d9daa194dc1c7cf60b3",
            "4a7901b8-7d26-4d9d-aa19-4dc1c7cf60bg",
            "4a7901b8_7d26-4d9d-aa19-4dc1c7cf60b3",
            "",
            "4a7901b8-7d26-4d9d-aa19-4dc1c7cf60b3 ",
        ] {
            assert_eq!(
                CorrelationId::parse(text),
                Err(CorrelationIdError),
                "{text}"
            );
        }
    }
}

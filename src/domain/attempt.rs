//! The attempt record: what was last sent for a payment, written to Redis before every call so
//! that whoever continues the payment (after a crash, a reclaim or a restart) knows whether an
//! earlier call may have been processed.

use super::{Millis, Processor};

/// The record format's version, first in its text. Change it with any change of the fields'
/// meaning: a record this binary cannot read is resolved by asking both processors.
const VERSION: &str = "a2";

/// The attempt record of one payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// How many calls were made for this payment so far (across every worker).
    pub number: u32,
    /// The call whose outcome is not known yet, if any. While set, the payment is pinned to
    /// that processor and that `requestedAt`.
    pub unresolved: Option<Unresolved>,
}

/// A call that may have been processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unresolved {
    pub processor: Processor,
    pub requested_at: Millis,
    /// When the latest call of this attempt was sent: a processor may still store that one
    /// until its delay ends, so "not found" means something only well after it.
    pub last_sent: Millis,
}

impl Attempt {
    /// A payment nobody has called a processor for yet.
    pub const FRESH: Attempt = Attempt {
        number: 0,
        unresolved: None,
    };

    /// Record text, versioned: `a2|number|processor|requested_at|last_sent` while unresolved,
    /// `a2|number|-|0|0` once the last call is known not to have been processed.
    pub fn encode(&self) -> String {
        match self.unresolved {
            Some(u) => format!(
                "{VERSION}|{}|{}|{}|{}",
                self.number, u.processor, u.requested_at, u.last_sent
            ),
            None => format!("{VERSION}|{}|-|0|0", self.number),
        }
    }

    /// Parses a record: this version's, or the unversioned one written before records had a
    /// version (same fields, same meaning), so an upgrade mid-flight reads what the old binary
    /// wrote. `None` for anything else — a newer version, garbage: the caller must then treat
    /// the payment as possibly paid anywhere, never as fresh.
    pub fn decode(text: &str) -> Option<Self> {
        let fields = match text.strip_prefix(VERSION).and_then(|t| t.strip_prefix('|')) {
            Some(rest) => rest,
            None if text.starts_with(|c: char| c.is_ascii_digit()) => text,
            None => return None,
        };
        let mut parts = fields.split('|');
        let number = parts.next()?.parse().ok()?;
        let processor = parts.next()?;
        let requested_at: Millis = parts.next()?.parse().ok()?;
        let last_sent: Millis = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        let unresolved = match processor {
            "-" => None,
            p => Some(Unresolved {
                processor: p.parse().ok()?,
                requested_at,
                last_sent,
            }),
        };
        Some(Self { number, unresolved })
    }

    /// The record to write before sending call number `number + 1`. A pinned payment re-sends
    /// the same `requestedAt`; a free one gets the sending moment.
    pub fn before_call(&self, processor: Processor, now: Millis) -> Attempt {
        let requested_at = match self.unresolved {
            Some(u) => u.requested_at,
            None => now,
        };
        Attempt {
            number: self.number + 1,
            unresolved: Some(Unresolved {
                processor,
                requested_at,
                last_sent: now,
            }),
        }
    }

    /// The record after call `self` was definitely not processed (any answer but 200, 422 and
    /// busy), where `before` is the record it was sent from. If an earlier call was still open,
    /// it stays open and pinned, with its own `last_sent`: an answered call cannot be stored
    /// later, so it must not push back the moment a "not found" for the earlier one counts.
    pub fn after_not_processed(&self, before: &Attempt) -> Attempt {
        Attempt {
            number: self.number,
            unresolved: before.unresolved,
        }
    }

    /// The record once the open call is known not to be stored: free to go anywhere.
    pub fn not_stored(&self) -> Attempt {
        Attempt {
            number: self.number,
            unresolved: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let a = Attempt::FRESH.before_call(Processor::Fallback, 1_000);
        assert_eq!(a.encode(), "a2|1|fallback|1000|1000");
        assert_eq!(Attempt::decode(&a.encode()), Some(a));
        let b = a.not_stored();
        assert_eq!(b.encode(), "a2|1|-|0|0");
        assert_eq!(Attempt::decode("a2|1|-|0|0"), Some(b));
    }

    #[test]
    fn records_written_before_the_version_still_read() {
        let a = Attempt::FRESH.before_call(Processor::Fallback, 1_000);
        assert_eq!(Attempt::decode("1|fallback|1000|1000"), Some(a));
        assert_eq!(Attempt::decode("1|-|0|0"), Some(a.not_stored()));
    }

    #[test]
    fn other_versions_and_garbage_are_unreadable() {
        for text in [
            "garbage",
            "",
            "a3|1|fallback|1000|1000",
            "a2|1|fallback|1000",
            "a2|1|elsewhere|5|5",
            "1|elsewhere|5",
            "a2|1|-|0|0|extra",
        ] {
            assert_eq!(Attempt::decode(text), None, "{text:?}");
        }
    }

    #[test]
    fn unknown_outcome_resends_the_same_requested_at() {
        let first = Attempt::FRESH.before_call(Processor::Default, 1_000);
        let retry = first.before_call(Processor::Default, 9_000);
        assert_eq!(retry.number, 2);
        assert_eq!(retry.unresolved.unwrap().requested_at, 1_000);
        // The grace before "not found" counts from the latest send.
        assert_eq!(retry.unresolved.unwrap().last_sent, 9_000);
    }

    #[test]
    fn definitive_failure_frees_the_payment_unless_an_earlier_call_is_open() {
        let first = Attempt::FRESH.before_call(Processor::Default, 1_000);
        assert_eq!(first.after_not_processed(&Attempt::FRESH).unresolved, None);
        let resent = first.before_call(Processor::Default, 2_000);
        let kept = resent.after_not_processed(&first);
        assert_eq!(kept.number, 2);
        assert_eq!(
            kept.unresolved, first.unresolved,
            "the earlier call stays open, and its grace still counts from its own send"
        );
        let next = first.not_stored().before_call(Processor::Fallback, 3_000);
        assert_eq!(next.unresolved.unwrap().requested_at, 3_000);
    }
}

//! The body of `POST /payments`, parsed into domain types.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Amount, AmountError, CorrelationId, CorrelationIdError};

/// A valid payment request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentRequest {
    pub correlation_id: CorrelationId,
    pub amount: Amount,
}

/// Why a body is not a valid payment request; the variant decides the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentRequestError {
    /// Not JSON, not an object, a field of the wrong JSON type or a missing field (400).
    #[error("{0}")]
    Malformed(String),
    /// Well-formed JSON whose id is not a UUID (422).
    #[error(transparent)]
    CorrelationId(#[from] CorrelationIdError),
    /// Well-formed JSON whose amount breaks a rule (422).
    #[error(transparent)]
    Amount(AmountError),
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(rename = "correlationId", borrow)]
    correlation_id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    amount: &'a RawValue,
}

impl PaymentRequest {
    /// Parses the raw body. Unknown fields are ignored.
    pub fn parse(body: &[u8]) -> Result<Self, PaymentRequestError> {
        let body: Body<'_> = serde_json::from_slice(body).map_err(|e| {
            PaymentRequestError::Malformed(format!("body must be a JSON object with a string `correlationId` and a numeric `amount`: {e}"))
        })?;
        let amount = Amount::parse_json_number(body.amount.get()).map_err(|e| match e {
            AmountError::NotANumber => {
                PaymentRequestError::Malformed("`amount` must be a JSON number".to_owned())
            }
            other => PaymentRequestError::Amount(other),
        })?;
        let correlation_id = CorrelationId::parse(&body.correlation_id)?;
        Ok(Self {
            correlation_id,
            amount,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4a7901b8-7d26-4d9d-aa19-4dc1c7cf60b3";

    fn parse(body: &str) -> Result<PaymentRequest, PaymentRequestError> {
        PaymentRequest::parse(body.as_bytes())
    }

    #[test]
    fn valid_body_with_extra_fields() {
        let req = parse(&format!(
            r#"{{"correlationId":"{}","amount":19.90,"extra":[1,2]}}"#,
            ID.to_uppercase()
        ))
        .unwrap();
        assert_eq!(req.correlation_id.as_str(), ID);
        assert_eq!(req.amount.cents(), 1990);
    }

    #[test]
    fn malformed_bodies_are_400_class() {
        for body in [
            "",
            "not json",
            "[]",
            "\"x\"",
            "{}",
            r#"{"amount": 1}"#,
            &format!(r#"{{"correlationId":"{ID}"}}"#),
            &format!(r#"{{"correlationId":"{ID}","amount":"19.90"}}"#),
            &format!(r#"{{"correlationId":"{ID}","amount":null}}"#),
            r#"{"correlationId":12,"amount":1}"#,
            &format!(r#"{{"correlationId":"{ID}","amount":1}} trailing"#),
        ] {
            assert!(
                matches!(parse(body), Err(PaymentRequestError::Malformed(_))),
                "{body}"
            );
        }
    }

    #[test]
    fn rule_breaks_are_422_class() {
        assert!(matches!(
            parse(r#"{"correlationId":"nope","amount":1}"#),
            Err(PaymentRequestError::CorrelationId(_))
        ));
        for (amount, err) in [
            ("0", AmountError::NotPositive),
            ("-5", AmountError::NotPositive),
            ("1.001", AmountError::TooPrecise),
            ("1000000000.01", AmountError::TooLarge),
        ] {
            assert_eq!(
                parse(&format!(r#"{{"correlationId":"{ID}","amount":{amount}}}"#)),
                Err(PaymentRequestError::Amount(err)),
                "{amount}"
            );
        }
    }
}

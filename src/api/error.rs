//! Every error the API answers, mapped to its status and JSON body in one place.

use salvo::http::StatusCode;

/// An error response: `{"error": "<code>", "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    BadRequest(String),
    Unauthorized,
    NotFound,
    MethodNotAllowed {
        allow: &'static str,
    },
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unprocessable(String),
    /// The request took too long to arrive whole (the client trickled it past the enqueue
    /// deadline); nothing was done.
    RequestTimeout(String),
    Internal(String),
    /// Nothing was done; try again later.
    Unavailable(String),
    /// The payment may or may not have been enqueued (Redis did not answer, even to the
    /// lookups); a retry with the same correlationId is safe either way.
    OutcomeUnknown,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            // 504, not 503: 503 promises nothing was done, which is not known here.
            ApiError::OutcomeUnknown => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::Conflict => "conflict",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Unprocessable(_) => "unprocessable_entity",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::Internal(_) => "internal_error",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::OutcomeUnknown => "outcome_unknown",
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::BadRequest(m)
            | ApiError::Unprocessable(m)
            | ApiError::RequestTimeout(m)
            | ApiError::Internal(m)
            | ApiError::Unavailable(m) => m.clone(),
            ApiError::Unauthorized => "missing or wrong token".into(),
            ApiError::NotFound => "no such resource".into(),
            ApiError::MethodNotAllowed { allow } => format!("method not allowed; use {allow}"),
            ApiError::Conflict => {
                "this correlationId was already accepted with a different amount".into()
            }
            ApiError::PayloadTooLarge => "request body larger than 4 KiB".into(),
            ApiError::UnsupportedMediaType => "Content-Type must be application/json".into(),
            ApiError::OutcomeUnknown => {
                "the queue did not answer in time, so whether this payment \
                was accepted is unknown; retry with the same correlationId, which is safe: a \
                payment is never enqueued twice"
                    .into()
            }
        }
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        serde_json::json!({"error": self.code(), "message": self.message()}).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_carry_code_and_message() {
        let body: serde_json::Value = serde_json::from_str(&ApiError::Conflict.body()).unwrap();
        assert_eq!(body["error"], "conflict");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("different amount")
        );
        assert_eq!(ApiError::PayloadTooLarge.status().as_u16(), 413);
        assert_eq!(ApiError::Unavailable("x".into()).status().as_u16(), 503);
    }
}

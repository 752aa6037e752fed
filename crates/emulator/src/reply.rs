//! Writing responses the way the official processor does.
//!
//! ASP.NET answers `Results.StatusCode(..)`, `NotFound()` and `Unauthorized()` with an empty
//! body, so every error here sets an explicitly empty body: salvo would otherwise fill it
//! with its own error page.

use salvo::Response;
use salvo::http::StatusCode;
use salvo::http::header::{CONTENT_TYPE, HeaderValue, LOCATION, RETRY_AFTER};
use serde::Serialize;

/// The official processor's 429 body (its rate limiter's `OnRejected`), kept verbatim.
const TOO_MANY_REQUESTS_BODY: &str = "Calm down, bitch. Try again later.";

/// `status` with a JSON body.
pub fn json(res: &mut Response, status: StatusCode, body: &impl Serialize) {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            res.status_code(status);
            res.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            res.body(bytes);
        }
        Err(_) => empty(res, StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// `{"message": message}` with `status`.
pub fn message(res: &mut Response, status: StatusCode, message: &str) {
    #[derive(Serialize)]
    struct Message<'a> {
        message: &'a str,
    }
    json(res, status, &Message { message });
}

/// `status` with an empty body.
pub fn empty(res: &mut Response, status: StatusCode) {
    res.status_code(status);
    res.body(Vec::new());
}

/// `status` with an empty body and, when given, `Retry-After: seconds`.
pub fn with_retry_after(res: &mut Response, status: StatusCode, seconds: Option<u64>) {
    if let Some(seconds) = seconds {
        res.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    empty(res, status);
}

/// A redirect to `location` with an empty body.
pub fn redirect(res: &mut Response, status: StatusCode, location: &str) {
    if let Ok(value) = HeaderValue::from_str(location) {
        res.headers_mut().insert(LOCATION, value);
    }
    empty(res, status);
}

/// 429 from a rate or concurrency limit: `Retry-After` and the official text body.
pub fn too_many_requests(res: &mut Response, retry_after_secs: u64) {
    res.status_code(StatusCode::TOO_MANY_REQUESTS);
    res.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
    res.body(TOO_MANY_REQUESTS_BODY);
}

/// Exact decimal text as a JSON number (amounts, fees), never through `f64`.
pub fn number(text: String) -> Box<serde_json::value::RawValue> {
    serde_json::value::RawValue::from_string(text)
        .expect("money formatting always yields a valid JSON number")
}

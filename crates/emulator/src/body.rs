//! Reading JSON request bodies the way ASP.NET minimal APIs bind them: a body that is not
//! declared as JSON is 415, one that does not parse is 400.

use salvo::Request;
use salvo::http::StatusCode;
use salvo::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

/// Reads and parses the JSON body, or says which status to answer instead.
pub async fn read_json<T: DeserializeOwned>(req: &mut Request) -> Result<T, StatusCode> {
    if !declares_json(req) {
        return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let bytes = req.payload().await.map_err(|_| StatusCode::BAD_REQUEST)?;
    serde_json::from_slice(bytes).map_err(|_| StatusCode::BAD_REQUEST)
}

/// `Content-Type: application/json` (any parameters) or `application/<anything>+json`.
fn declares_json(req: &Request) -> bool {
    let Some(value) = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

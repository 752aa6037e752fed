//! `POST /payments`: parse, one Redis round trip, answer. Nothing slow happens here.

use std::time::Duration;

use salvo::http::ParseError;
use salvo::http::StatusCode;
use salvo::http::header::CONTENT_TYPE;
use salvo::prelude::*;

use super::{Api, ApiError, Reply, json};
use crate::domain::{Millis, PaymentRequest, PaymentRequestError, now_millis};
use crate::queue::{EnqueueOutcome, Found, QueueError};

/// The body size limit; nginx enforces the same.
pub const MAX_BODY_BYTES: usize = 4096;

/// After the deadline, how long we still wait for Redis's answer: a script Redis ran before
/// the deadline answers within this, so the reply we give matches what Redis did.
const REPLY_GRACE: Duration = Duration::from_millis(250);

/// How long an unknown enqueue outcome is looked up before the answer says so: together with the
/// deadline and the grace, a stuck Redis is answered within about 1.75 s of arrival (nginx gives
/// up at 2 s).
const RESOLVE_FOR: Duration = Duration::from_millis(500);

/// The pause between two lookups while the id is not there yet.
const RESOLVE_EVERY: Duration = Duration::from_millis(25);

pub(super) async fn create(api: &Api, req: &mut Request) -> Result<Reply, ApiError> {
    let arrived = arrival_millis(req).unwrap_or_else(now_millis);
    let deadline = arrived + api.settings.enqueue_deadline.as_millis() as Millis;
    check_content_type(req)?;
    let body = req
        .payload_with_max_size(MAX_BODY_BYTES)
        .await
        .map_err(|e| match e {
            ParseError::PayloadTooLarge => ApiError::PayloadTooLarge,
            other => ApiError::BadRequest(format!("could not read the body: {other}")),
        })?;
    let payment = PaymentRequest::parse(body).map_err(|e| match e {
        PaymentRequestError::Malformed(m) => ApiError::BadRequest(m),
        other => ApiError::Unprocessable(other.to_string()),
    })?;

    let remaining = deadline - now_millis();
    if remaining <= 0 {
        // Reading the body took us past the deadline: the client was slow, and has most likely
        // given up. Not a 503: nothing is wrong with us, and nothing was enqueued.
        return Err(ApiError::RequestTimeout(
            "the request arrived whole only after the enqueue deadline; nothing was enqueued"
                .into(),
        ));
    }
    let wait = Duration::from_millis(remaining as u64) + REPLY_GRACE;
    let outcome = match tokio::time::timeout(wait, api.queue.enqueue(&payment, deadline)).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(QueueError::OutOfMemory)) => {
            return Err(ApiError::Unavailable("queue is full; retry later".into()));
        }
        Ok(Err(e)) if e.nothing_done() => {
            tracing::warn!(err = %e, correlation_id = %payment.correlation_id, "enqueue failed");
            return Err(ApiError::Unavailable(
                "queue unavailable; retry later".into(),
            ));
        }
        Ok(Err(e)) => {
            tracing::warn!(err = %e, correlation_id = %payment.correlation_id, "enqueue outcome unknown; looking it up");
            resolve(api, &payment, deadline).await?
        }
        Err(_elapsed) => resolve(api, &payment, deadline).await?,
    };
    match outcome {
        EnqueueOutcome::Accepted | EnqueueOutcome::Replayed => Ok(Reply::Json(
            StatusCode::ACCEPTED,
            json::to_body(&json::Accepted {
                correlation_id: payment.correlation_id.as_str(),
                amount: payment.amount,
                status: "accepted",
            }),
        )),
        EnqueueOutcome::Conflict => Err(ApiError::Conflict),
        EnqueueOutcome::TooLate => Err(too_late()),
    }
}

/// The enqueue script may or may not have run (no answer in time, or the reply was lost): looks
/// the id up until the answer is known or [`RESOLVE_FOR`] has passed. Found with this amount:
/// accepted (by this request or an earlier one); with another: a conflict; absent after the
/// deadline (in Redis's clock): nothing was enqueued and nothing can be any more. Still unknown:
/// [`ApiError::OutcomeUnknown`], and a retry with the same correlationId is safe either way.
async fn resolve(
    api: &Api,
    payment: &PaymentRequest,
    deadline: Millis,
) -> Result<EnqueueOutcome, ApiError> {
    let give_up = tokio::time::Instant::now() + RESOLVE_FOR;
    let mut looks = tokio::time::interval(RESOLVE_EVERY);
    looks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while tokio::time::Instant::now() < give_up {
        looks.tick().await;
        let look = api.queue.find(&payment.correlation_id, deadline);
        let found = match tokio::time::timeout_at(give_up, look).await {
            Ok(Ok(found)) => found,
            // Redis refuses connections: it is down, as when the enqueue failed the same way.
            Ok(Err(e)) if e.nothing_done() => {
                return Err(ApiError::Unavailable(
                    "queue unavailable; retry later".into(),
                ));
            }
            Ok(Err(e)) => {
                tracing::debug!(err = %e, correlation_id = %payment.correlation_id, "lookup failed");
                continue;
            }
            Err(_) => break,
        };
        let outcome = match found {
            Found::Accepted(amount) if amount == payment.amount => EnqueueOutcome::Replayed,
            Found::Accepted(_) => EnqueueOutcome::Conflict,
            Found::Absent => EnqueueOutcome::TooLate,
            Found::NotYet => continue,
        };
        api.metrics.enqueue_resolved(outcome);
        return Ok(outcome);
    }
    api.metrics.enqueue_unknown();
    tracing::warn!(correlation_id = %payment.correlation_id, "enqueue outcome still unknown; answered 504");
    Err(ApiError::OutcomeUnknown)
}

fn too_late() -> ApiError {
    ApiError::Unavailable("could not enqueue in time; nothing was enqueued, retry".into())
}

/// The arrival time nginx stamped (`$msec`: seconds with a millisecond fraction).
fn arrival_millis(req: &Request) -> Option<Millis> {
    let text = req.headers().get("x-arrival-time")?.to_str().ok()?;
    parse_msec(text)
}

fn parse_msec(text: &str) -> Option<Millis> {
    let (secs, frac) = text.trim().split_once('.').unwrap_or((text.trim(), "0"));
    let secs: Millis = secs.parse().ok()?;
    let frac = format!("{frac:0<3}");
    let millis: Millis = frac.get(..3)?.parse().ok()?;
    Some(secs * 1000 + millis)
}

fn check_content_type(req: &Request) -> Result<(), ApiError> {
    let Some(value) = req.headers().get(CONTENT_TYPE) else {
        return Ok(());
    };
    let mime = value
        .to_str()
        .map_err(|_| ApiError::UnsupportedMediaType)?
        .split(';')
        .next()
        .unwrap_or("")
        .trim();
    if mime.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_msec_parses_to_millis() {
        assert_eq!(parse_msec("1752582896.123"), Some(1_752_582_896_123));
        assert_eq!(parse_msec("1752582896.1"), Some(1_752_582_896_100));
        assert_eq!(parse_msec("1752582896"), Some(1_752_582_896_000));
        assert_eq!(parse_msec("soon"), None);
    }
}

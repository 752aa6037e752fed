//! What can go wrong talking to the queue.

/// Why the queue could not answer.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("redis is out of memory")]
    OutOfMemory,
    #[error("redis unavailable: {0}")]
    Unavailable(#[from] redis::RedisError),
    #[error("unexpected reply from redis: {0}")]
    Protocol(String),
}

impl QueueError {
    /// True when the command surely never reached Redis (the connection was refused), or Redis
    /// refused it whole (out of memory: the enqueue script's first write fails before any):
    /// nothing was done. Any other error may have come after Redis ran the command.
    pub fn nothing_done(&self) -> bool {
        match self {
            QueueError::OutOfMemory => true,
            QueueError::Unavailable(e) => e.is_connection_refusal(),
            QueueError::Protocol(_) => false,
        }
    }

    /// True when Redis has no consumer group for the stream (`NOGROUP`).
    pub fn is_missing_group(&self) -> bool {
        matches!(self, QueueError::Unavailable(e) if e.code() == Some("NOGROUP"))
    }
}

pub(super) fn classify(err: redis::RedisError) -> QueueError {
    if err.code() == Some("OOM") {
        QueueError::OutOfMemory
    } else {
        QueueError::Unavailable(err)
    }
}

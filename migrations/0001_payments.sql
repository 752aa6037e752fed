-- The ledger: one row per payment a processor accepted. The primary key is the last line of
-- defence against booking a payment twice.
CREATE TABLE payments (
    correlation_id  uuid        PRIMARY KEY,
    processor       text        NOT NULL CHECK (processor IN ('default', 'fallback')),
    amount_cents    bigint      NOT NULL CHECK (amount_cents > 0),
    -- The requestedAt sent to (and stored by) the processor, in ms since the Unix epoch.
    requested_at_ms bigint      NOT NULL,
    booked_at       timestamptz NOT NULL DEFAULT now()
);

-- The summary's range query filters on requested_at and groups by processor.
CREATE INDEX payments_requested_at ON payments (requested_at_ms) INCLUDE (processor, amount_cents);

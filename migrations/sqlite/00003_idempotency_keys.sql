-- See the PostgreSQL migration: the event each idempotency key stored, kept
-- at least 24 hours (pruned by created_at through its index), past the
-- event's own retention. Times are UTC text like activity_events.created_at.

-- +goose Up
CREATE TABLE idempotency_keys (
    key              TEXT    NOT NULL PRIMARY KEY,
    event_id         INTEGER NOT NULL,
    event_created_at TEXT    NOT NULL CHECK (length(event_created_at) = 24),
    created_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                             CHECK (length(created_at) = 24)
) STRICT;

CREATE INDEX idx_idempotency_keys_created_at ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;

-- idempotency_keys remembers which event a client's idempotency key stored,
-- so that a retry stores nothing new and is answered with that event. A key
-- outlives the event's retention (events are pruned by count, keys by age):
-- it is kept at least 24 hours, then pruned by created_at, which the index
-- serves without scanning the table.
--
-- event_id is no foreign key on purpose: retention deletes the event while
-- the key must stay. event_created_at keeps the event's created_at for the
-- answer to a retry after that.

-- +goose Up
CREATE TABLE idempotency_keys (
    key              text        PRIMARY KEY,
    event_id         bigint      NOT NULL,
    event_created_at timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_idempotency_keys_created_at ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;

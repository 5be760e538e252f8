-- notifications is the alerts' outbox and their delivery log: one row per
-- transition and channel, under a key receivers can drop repeats by. A
-- worker claims due rows (claimed_ms, so that two instances never deliver
-- one row at once), delivers with backoff for at least 24 h, and records
-- the outcome; delivered and failed rows are kept 7 days, at most 1,000.

-- +goose Up
CREATE TABLE notifications (
    id            bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key           text    NOT NULL UNIQUE,
    channel       text    NOT NULL,
    payload       text    NOT NULL,
    created_ms    bigint  NOT NULL,
    next_ms       bigint  NOT NULL,
    claimed_ms    bigint  NOT NULL DEFAULT 0,
    attempts      integer NOT NULL DEFAULT 0,
    state         text    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    last_status   integer NOT NULL DEFAULT 0,
    last_error    text    NOT NULL DEFAULT '',
    finished_ms   bigint  NOT NULL DEFAULT 0
);
CREATE INDEX idx_notifications_due ON notifications (state, next_ms);

-- +goose Down
DROP TABLE notifications;

-- See the PostgreSQL migration: the alerts' notification outbox, which is
-- also their delivery log.

-- +goose Up
CREATE TABLE notifications (
    id            INTEGER PRIMARY KEY,
    key           TEXT    NOT NULL UNIQUE,
    channel       TEXT    NOT NULL,
    payload       TEXT    NOT NULL,
    created_ms    INTEGER NOT NULL,
    next_ms       INTEGER NOT NULL,
    claimed_ms    INTEGER NOT NULL DEFAULT 0,
    attempts      INTEGER NOT NULL DEFAULT 0,
    state         TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    last_status   INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT    NOT NULL DEFAULT '',
    finished_ms   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX idx_notifications_due ON notifications (state, next_ms);

-- +goose Down
DROP TABLE notifications;

-- See the PostgreSQL migration: source ('app' or 'vitals') and a retention
-- count per source (n for 'app', vitals_n for 'vitals').

-- +goose Up
ALTER TABLE activity_events
    ADD COLUMN source TEXT NOT NULL DEFAULT 'app' CHECK (source IN ('app', 'vitals'));

UPDATE activity_events SET source = 'vitals'
WHERE type IN ('admin.signed_in', 'admin.sign_in_failed', 'admin.locked_out',
               'token.created', 'token.revoked', 'events.erased');

CREATE INDEX idx_activity_events_source_created_at ON activity_events (source, created_at DESC, id DESC);

ALTER TABLE activity_events_count
    ADD COLUMN vitals_n INTEGER NOT NULL DEFAULT 0 CHECK (vitals_n >= 0);

UPDATE activity_events_count SET
    n        = (SELECT count(*) FROM activity_events WHERE source = 'app'),
    vitals_n = (SELECT count(*) FROM activity_events WHERE source = 'vitals')
WHERE id = 1;

-- +goose Down
ALTER TABLE activity_events_count DROP COLUMN vitals_n;
DROP INDEX idx_activity_events_source_created_at;
ALTER TABLE activity_events DROP COLUMN source;
UPDATE activity_events_count SET n = (SELECT count(*) FROM activity_events) WHERE id = 1;

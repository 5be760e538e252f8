-- source tells the application's events ('app': ingest, the clients) from
-- those vitals writes about itself ('vitals': sign-ins, tokens, erasures).
-- Each source has its own retention budget, so that a burst of vitals' own
-- events never pushes an application event out: activity_events_count.n now
-- counts the 'app' rows and vitals_n the 'vitals' rows, both kept in the one
-- row whose lock serialises every insert's retention decision.
--
-- Rows stored before this migration by vitals itself (its exact types) are
-- marked 'vitals'; everything else was the application's.

-- +goose Up
ALTER TABLE activity_events
    ADD COLUMN source varchar(16) NOT NULL DEFAULT 'app' CHECK (source IN ('app', 'vitals'));

UPDATE activity_events SET source = 'vitals'
WHERE type IN ('admin.signed_in', 'admin.sign_in_failed', 'admin.locked_out',
               'token.created', 'token.revoked', 'events.erased');

-- Retention finds the keep-th newest row of one source.
CREATE INDEX idx_activity_events_source_created_at ON activity_events (source, created_at DESC, id DESC);

ALTER TABLE activity_events_count
    ADD COLUMN vitals_n bigint NOT NULL DEFAULT 0 CHECK (vitals_n >= 0);

UPDATE activity_events_count SET
    n        = (SELECT count(*) FROM activity_events WHERE source = 'app'),
    vitals_n = (SELECT count(*) FROM activity_events WHERE source = 'vitals')
WHERE id = 1;

-- +goose Down
ALTER TABLE activity_events_count DROP COLUMN vitals_n;
DROP INDEX idx_activity_events_source_created_at;
ALTER TABLE activity_events DROP COLUMN source;
UPDATE activity_events_count SET n = (SELECT count(*) FROM activity_events) WHERE id = 1;

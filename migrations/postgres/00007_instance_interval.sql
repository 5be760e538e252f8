-- Each instance records how often it registers (its VITALS_HISTORY_INTERVAL),
-- so that the fleet view judges it stale after 3 of its own intervals, not
-- the reader's: instances of one fleet may be configured apart.

-- +goose Up
ALTER TABLE instances ADD COLUMN interval_ms bigint NOT NULL DEFAULT 30000 CHECK (interval_ms > 0);

-- +goose Down
ALTER TABLE instances DROP COLUMN interval_ms;

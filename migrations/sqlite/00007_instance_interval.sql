-- See the PostgreSQL migration: each instance's own registration interval.

-- +goose Up
ALTER TABLE instances ADD COLUMN interval_ms INTEGER NOT NULL DEFAULT 30000 CHECK (interval_ms > 0);

-- +goose Down
ALTER TABLE instances DROP COLUMN interval_ms;

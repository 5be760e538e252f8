-- See the PostgreSQL migration: stored API tokens, only their SHA-256 (hex)
-- kept; revoked ones stay with revoked_at set. Times are UTC text like
-- activity_events.created_at.

-- +goose Up
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    kind         TEXT    NOT NULL CHECK (kind IN ('read', 'ingest')),
    hash         TEXT    NOT NULL UNIQUE CHECK (length(hash) = 64),
    created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    revoked_at   TEXT,
    last_used_at TEXT
) STRICT;

CREATE UNIQUE INDEX idx_api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

-- +goose Down
DROP TABLE api_tokens;

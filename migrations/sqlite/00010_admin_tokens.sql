-- See the PostgreSQL migration: admin tokens. SQLite cannot alter a CHECK,
-- so the table is rebuilt with the wider one, ids and times kept (the
-- AUTOINCREMENT sequence carries on from the copied ids).

-- +goose Up
CREATE TABLE api_tokens_new (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    kind         TEXT    NOT NULL CHECK (kind IN ('read', 'ingest', 'admin')),
    hash         TEXT    NOT NULL UNIQUE CHECK (length(hash) = 64),
    created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    revoked_at   TEXT,
    last_used_at TEXT
) STRICT;
INSERT INTO api_tokens_new (id, name, kind, hash, created_at, revoked_at, last_used_at)
    SELECT id, name, kind, hash, created_at, revoked_at, last_used_at FROM api_tokens;
DROP TABLE api_tokens;
ALTER TABLE api_tokens_new RENAME TO api_tokens;
CREATE UNIQUE INDEX idx_api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

-- +goose Down
CREATE TABLE api_tokens_old (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    kind         TEXT    NOT NULL CHECK (kind IN ('read', 'ingest')),
    hash         TEXT    NOT NULL UNIQUE CHECK (length(hash) = 64),
    created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    revoked_at   TEXT,
    last_used_at TEXT
) STRICT;
INSERT INTO api_tokens_old (id, name, kind, hash, created_at, revoked_at, last_used_at)
    SELECT id, name, kind, hash, created_at, revoked_at, last_used_at FROM api_tokens WHERE kind <> 'admin';
DROP TABLE api_tokens;
ALTER TABLE api_tokens_old RENAME TO api_tokens;
CREATE UNIQUE INDEX idx_api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

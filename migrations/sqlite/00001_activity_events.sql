-- activity_events is the seed's table in SQLite terms. STRICT makes SQLite
-- enforce the declared types, and the CHECKs give the same limits as the
-- PostgreSQL varchar(n) and jsonb columns, so that both backends accept and
-- reject the same events.
--
-- id: AUTOINCREMENT, so an id is never handed out twice, not even after every
-- row was deleted (a plain rowid would restart below ids clients have seen).
-- created_at: UTC text, fixed width 'YYYY-MM-DDTHH:MM:SS.sssZ' (24
-- characters, milliseconds), so text order is time order and the index serves
-- "newest first".

-- +goose Up
CREATE TABLE activity_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    type       TEXT    NOT NULL CHECK (length(type) <= 50),
    message    TEXT    NOT NULL,
    user_email TEXT    CHECK (user_email IS NULL OR length(user_email) <= 255),
    details    TEXT    CHECK (details IS NULL OR json_valid(details)),
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                       CHECK (length(created_at) = 24)
) STRICT;

CREATE INDEX idx_activity_events_created_at ON activity_events (created_at DESC);
CREATE INDEX idx_activity_events_type ON activity_events (type);

-- See the PostgreSQL migration: the row count kept beside the table, updated
-- in every insert's transaction, so retention never counts on insert.
CREATE TABLE activity_events_count (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL CHECK (n >= 0)
) STRICT;

INSERT INTO activity_events_count (id, n) VALUES (1, 0);

-- +goose Down
DROP TABLE activity_events_count;
DROP TABLE activity_events;

-- See the PostgreSQL migration: history chunks per tier and series, the
-- roll-up watermarks, leases and the fleet's instances. WITHOUT ROWID keeps
-- the chunks in their primary key's order, with no second copy of the key.

-- +goose Up
CREATE TABLE history_chunks (
    instance  TEXT    NOT NULL,
    tier      INTEGER NOT NULL CHECK (tier BETWEEN 0 AND 2),
    series    TEXT    NOT NULL,
    start_ms  INTEGER NOT NULL,
    end_ms    INTEGER NOT NULL CHECK (end_ms >= start_ms),
    points    INTEGER NOT NULL CHECK (points > 0),
    data      BLOB    NOT NULL,
    PRIMARY KEY (tier, instance, series, start_ms)
) WITHOUT ROWID;

CREATE INDEX idx_history_chunks_tier_end ON history_chunks (tier, end_ms);

CREATE TABLE history_watermarks (
    tier      INTEGER PRIMARY KEY CHECK (tier BETWEEN 1 AND 2),
    until_ms  INTEGER NOT NULL
);

CREATE TABLE leases (
    name        TEXT    PRIMARY KEY,
    holder      TEXT    NOT NULL,
    expires_ms  INTEGER NOT NULL,
    acquired_ms INTEGER NOT NULL
);

CREATE TABLE instances (
    id          TEXT    PRIMARY KEY,
    region      TEXT    NOT NULL DEFAULT '',
    version     TEXT    NOT NULL DEFAULT '',
    started_ms  INTEGER NOT NULL,
    seen_ms     INTEGER NOT NULL,
    snapshot    BLOB    NOT NULL
);

CREATE INDEX idx_instances_seen ON instances (seen_ms);

-- +goose Down
DROP TABLE instances;
DROP TABLE leases;
DROP TABLE history_watermarks;
DROP TABLE history_chunks;

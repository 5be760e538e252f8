-- history_chunks becomes a rowid table. In a WITHOUT ROWID table a row
-- longer than about 1000 bytes (a day of 5-minute buckets, a week of
-- hourly ones) keeps 489 bytes in its page and puts the rest on an
-- overflow page of its own, mostly empty: two thirds of the history's
-- bytes were such pages. A rowid table keeps rows up to about 4000 bytes
-- in place, for one more index entry (the key) per row.

-- +goose Up
CREATE TABLE history_chunks_new (
    instance  TEXT    NOT NULL,
    tier      INTEGER NOT NULL CHECK (tier BETWEEN 0 AND 2),
    series    TEXT    NOT NULL,
    start_ms  INTEGER NOT NULL,
    end_ms    INTEGER NOT NULL CHECK (end_ms >= start_ms),
    points    INTEGER NOT NULL CHECK (points > 0),
    data      BLOB    NOT NULL,
    PRIMARY KEY (tier, instance, series, start_ms)
);
INSERT INTO history_chunks_new (instance, tier, series, start_ms, end_ms, points, data)
    SELECT instance, tier, series, start_ms, end_ms, points, data FROM history_chunks;
DROP TABLE history_chunks;
ALTER TABLE history_chunks_new RENAME TO history_chunks;
CREATE INDEX idx_history_chunks_tier_end ON history_chunks (tier, end_ms);

-- +goose Down
CREATE TABLE history_chunks_old (
    instance  TEXT    NOT NULL,
    tier      INTEGER NOT NULL CHECK (tier BETWEEN 0 AND 2),
    series    TEXT    NOT NULL,
    start_ms  INTEGER NOT NULL,
    end_ms    INTEGER NOT NULL CHECK (end_ms >= start_ms),
    points    INTEGER NOT NULL CHECK (points > 0),
    data      BLOB    NOT NULL,
    PRIMARY KEY (tier, instance, series, start_ms)
) WITHOUT ROWID;
INSERT INTO history_chunks_old (instance, tier, series, start_ms, end_ms, points, data)
    SELECT instance, tier, series, start_ms, end_ms, points, data FROM history_chunks;
DROP TABLE history_chunks;
ALTER TABLE history_chunks_old RENAME TO history_chunks;
CREATE INDEX idx_history_chunks_tier_end ON history_chunks (tier, end_ms);

-- History (docs/architecture.md, "History"): every series of every instance
-- in tiers (0 raw, 1 five-minute roll-ups, 2 one-hour roll-ups). One row
-- holds one chunk of one series: the points of a period (an hour of raw
-- samples, a day of 5-minute buckets, a week of hourly ones) encoded
-- columnar, delta and varint, then deflated (package history). A row per
-- point would cost more in row headers and index entries than in data, and
-- a row per series rather than per tick lets a chart read only the series it
-- draws.
--
-- Times are unix milliseconds, the same on both backends.

-- +goose Up
CREATE TABLE history_chunks (
    instance  varchar(255) NOT NULL,
    tier      smallint     NOT NULL CHECK (tier BETWEEN 0 AND 2),
    series    varchar(255) NOT NULL,
    start_ms  bigint       NOT NULL,
    end_ms    bigint       NOT NULL CHECK (end_ms >= start_ms),
    points    integer      NOT NULL CHECK (points > 0),
    data      bytea        NOT NULL,
    PRIMARY KEY (tier, instance, series, start_ms)
);

-- Pruning deletes by age within a tier.
CREATE INDEX idx_history_chunks_tier_end ON history_chunks (tier, end_ms);

-- How far each roll-up tier has been computed: buckets before until_ms are
-- done and never recomputed, so a roll-up is done once and none is skipped.
CREATE TABLE history_watermarks (
    tier      smallint PRIMARY KEY CHECK (tier BETWEEN 1 AND 2),
    until_ms  bigint   NOT NULL
);

-- Leases: work that must happen once across the fleet (roll-ups, pruning)
-- runs on the holder, who renews before expires_ms; anyone may take an
-- expired lease. Every roll-up commit checks, in its own transaction, that
-- its instance still holds the lease, so a holder that froze and woke up
-- after a takeover cannot commit.
CREATE TABLE leases (
    name        varchar(64)  PRIMARY KEY,
    holder      varchar(255) NOT NULL,
    expires_ms  bigint       NOT NULL,
    acquired_ms bigint       NOT NULL
);

-- The fleet: every instance upserts itself every history interval.
CREATE TABLE instances (
    id          varchar(255) PRIMARY KEY,
    region      varchar(64)  NOT NULL DEFAULT '',
    version     varchar(64)  NOT NULL DEFAULT '',
    started_ms  bigint       NOT NULL,
    seen_ms     bigint       NOT NULL,
    snapshot    bytea        NOT NULL
);

CREATE INDEX idx_instances_seen ON instances (seen_ms);

-- +goose Down
DROP TABLE instances;
DROP TABLE leases;
DROP TABLE history_watermarks;
DROP TABLE history_chunks;

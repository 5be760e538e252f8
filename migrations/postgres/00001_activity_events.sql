-- activity_events is the seed's table column for column; id is bigserial
-- because ids grow for ever while retention keeps only the newest rows.
-- Every name is unqualified: vitals sets search_path to its own schema, so
-- these tables never meet the application's own activity_events in public.

-- +goose Up
CREATE TABLE activity_events (
    id         bigserial    PRIMARY KEY,
    type       varchar(50)  NOT NULL,
    message    text         NOT NULL,
    user_email varchar(255),
    details    jsonb,
    created_at timestamptz  NOT NULL DEFAULT now()
);

CREATE INDEX idx_activity_events_created_at ON activity_events (created_at DESC);
CREATE INDEX idx_activity_events_type ON activity_events (type);

-- activity_events_count holds the number of rows in activity_events so that
-- retention never counts the table on insert. Every insert updates the one
-- row in its own transaction; that row lock serialises the retention
-- decision across goroutines and across vitals instances.
CREATE TABLE activity_events_count (
    id integer PRIMARY KEY CHECK (id = 1),
    n  bigint  NOT NULL CHECK (n >= 0)
);

INSERT INTO activity_events_count (id, n) VALUES (1, 0);

-- +goose Down
DROP TABLE activity_events_count;
DROP TABLE activity_events;

-- settings keeps the few values every instance must agree on (the admin
-- password hash, the session signing key).

-- +goose Up
CREATE TABLE settings (
    key        text        PRIMARY KEY,
    value      text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE settings;

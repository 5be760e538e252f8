-- api_tokens are the read and ingest tokens made with `vitals token create`,
-- beside those from the environment. Only the token's SHA-256 is kept (hex);
-- the token is random, so a fast hash is enough. A revoked token stays, with
-- revoked_at set, so that the list shows it and its name can be reused.
-- Every instance polls max(id) and count(revoked_at) to learn of changes.

-- +goose Up
CREATE TABLE api_tokens (
    id           bigserial    PRIMARY KEY,
    name         varchar(64)  NOT NULL,
    kind         varchar(16)  NOT NULL CHECK (kind IN ('read', 'ingest')),
    hash         char(64)     NOT NULL UNIQUE,
    created_at   timestamptz  NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    last_used_at timestamptz
);

-- A name names one live token, so that `vitals token revoke NAME` is
-- unambiguous; revoked tokens free their name.
CREATE UNIQUE INDEX idx_api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

-- +goose Down
DROP TABLE api_tokens;

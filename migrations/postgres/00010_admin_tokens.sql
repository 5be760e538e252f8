-- Admin tokens: a third kind of stored API token, for scripts that erase
-- one person's events (DELETE /api/v1/events), which until now needed the
-- admin's browser session and its CSRF token. Only the kind's CHECK changes.

-- +goose Up
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_kind_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_kind_check CHECK (kind IN ('read', 'ingest', 'admin'));

-- +goose Down
-- An older binary knows no admin token: they are removed, not left to a
-- constraint that would refuse them.
DELETE FROM api_tokens WHERE kind = 'admin';
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_kind_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_kind_check CHECK (kind IN ('read', 'ingest'));

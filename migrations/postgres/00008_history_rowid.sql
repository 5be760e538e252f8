-- Version 8 changes SQLite's history_chunks from WITHOUT ROWID to a rowid
-- table (see migrations/sqlite/00008_history_rowid.sql), a layout PostgreSQL
-- does not have: its rows up to 2 kB stay in their page and longer data
-- goes to TOAST. Nothing changes here; the version keeps both folders in
-- step.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;

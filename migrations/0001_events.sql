-- The event log: the single source of truth. Append-only, enforced by the database itself.
CREATE TABLE events (
    position       INTEGER PRIMARY KEY,              -- global position, dense and increasing
    stream_id      TEXT    NOT NULL CHECK (length(stream_id) > 0),
    version        INTEGER NOT NULL CHECK (version >= 1),  -- 1-based version within the stream
    type           TEXT    NOT NULL CHECK (length(type) > 0),
    schema_version INTEGER NOT NULL DEFAULT 1 CHECK (schema_version >= 1),
    payload        TEXT    NOT NULL CHECK (json_valid(payload)),
    recorded_at    INTEGER NOT NULL,                 -- milliseconds since 1970-01-01T00:00:00Z
    actor          TEXT,
    correlation_id TEXT,
    causation_position INTEGER
);

CREATE UNIQUE INDEX events_stream_version ON events (stream_id, version);
CREATE INDEX events_type_position ON events (type, position);
CREATE INDEX events_recorded_at ON events (recorded_at);

CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: UPDATE is refused');
END;

CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: DELETE is refused');
END;

-- The current-state projection: per service instance, the latest observation from its runtime.
CREATE TABLE current_state (
    instance           TEXT    PRIMARY KEY,          -- application/service@channel
    runtime            TEXT    NOT NULL,
    observation        TEXT    NOT NULL,             -- canonical JSON
    digest             TEXT    NOT NULL,             -- sha256:<hex> of observation
    healthy            INTEGER NOT NULL,             -- 1 when every object is healthy and ready
    fetched_position   INTEGER NOT NULL,             -- the StateFetched that recorded it
    last_seen_position INTEGER NOT NULL,             -- the last StateFetched or StateUnchanged
    last_seen_at       INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE current_state_snapshots (
    snapshot_position  INTEGER NOT NULL,
    instance           TEXT    NOT NULL,
    runtime            TEXT    NOT NULL,
    observation        TEXT    NOT NULL,
    digest             TEXT    NOT NULL,
    healthy            INTEGER NOT NULL,
    fetched_position   INTEGER NOT NULL,
    last_seen_position INTEGER NOT NULL,
    last_seen_at       INTEGER NOT NULL,
    PRIMARY KEY (snapshot_position, instance)
) WITHOUT ROWID;

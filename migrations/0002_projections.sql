-- Projection bookkeeping: the last folded position of each projection.
CREATE TABLE projection_checkpoints (
    projection TEXT PRIMARY KEY,
    position   INTEGER NOT NULL
);

-- Snapshot index: which positions each projection has a snapshot at.
CREATE TABLE projection_snapshots (
    projection TEXT    NOT NULL,
    position   INTEGER NOT NULL,
    PRIMARY KEY (projection, position)
) WITHOUT ROWID;

-- The stream catalogue: one row per stream.
CREATE TABLE stream_catalogue (
    stream_id            TEXT    PRIMARY KEY,
    version              INTEGER NOT NULL,
    first_position       INTEGER NOT NULL,
    last_position        INTEGER NOT NULL,
    first_recorded_at    INTEGER NOT NULL,
    last_recorded_at     INTEGER NOT NULL,
    event_count          INTEGER NOT NULL,
    event_counts_by_type TEXT    NOT NULL               -- JSON object, keys sorted
) WITHOUT ROWID;

-- Its snapshots: the whole table as it stood at each snapshot position.
CREATE TABLE stream_catalogue_snapshots (
    snapshot_position    INTEGER NOT NULL,
    stream_id            TEXT    NOT NULL,
    version              INTEGER NOT NULL,
    first_position       INTEGER NOT NULL,
    last_position        INTEGER NOT NULL,
    first_recorded_at    INTEGER NOT NULL,
    last_recorded_at     INTEGER NOT NULL,
    event_count          INTEGER NOT NULL,
    event_counts_by_type TEXT    NOT NULL,
    PRIMARY KEY (snapshot_position, stream_id)
) WITHOUT ROWID;

-- Row history instead of whole snapshots. A keyed projection used to copy its whole table every
-- 10,000 events, so snapshots grew with the number of rows times the length of the log. Now
-- each change of a row appends a version (key, the position it became valid from, its values)
-- to `<table>_history`; the live tables stay as they are for fast reads. A point-in-time read of
-- one row is the latest version at or before a position: one seek in the history's primary key.
--
-- The stream catalogue's rows change with every event, so its versions are kept at checkpoints
-- instead (considered every 10,000 events, for the streams that changed since the last one, and
-- taken once there are at least 10 events per such stream; the checkpoints' positions are in
-- `stream_catalogue_checkpoints`), and a read folds forward from the nearest one.
--
-- The history of what was folded before this migration is rebuilt from the log: the projections
-- below are emptied and their checkpoints reset, and the store folds the whole log into them when
-- it opens.

DROP TABLE desired_state_snapshots;
DROP TABLE current_state_snapshots;
DROP TABLE instance_status_snapshots;
DROP TABLE stream_catalogue_snapshots;
DROP TABLE timeline_snapshots;
DROP TABLE projection_snapshots;

-- Versions keep no compiled document: the document of a version is in the log, in the
-- DesiredStateCompiled event at `position`.
CREATE TABLE desired_state_history (
    instance        TEXT    NOT NULL,
    valid_from      INTEGER NOT NULL,                -- the event that made this version
    digest          TEXT,
    version         TEXT,
    parameters      TEXT,
    position        INTEGER,
    config_digest   TEXT,
    recorded_at     INTEGER,
    removed         INTEGER NOT NULL,                -- 1: the row went (the other columns are NULL)
    PRIMARY KEY (instance, valid_from)
) WITHOUT ROWID;

-- Versions are written when the observation changes (a StateFetched), not when an unchanged fetch
-- moves `last_seen_*`; the observation of a version is in the log, in the StateFetched event at
-- `fetched_position`.
CREATE TABLE current_state_history (
    instance           TEXT    NOT NULL,
    valid_from         INTEGER NOT NULL,
    runtime            TEXT,
    digest             TEXT,
    healthy            INTEGER,
    fetched_position   INTEGER,
    removed            INTEGER NOT NULL,
    PRIMARY KEY (instance, valid_from)
) WITHOUT ROWID;

CREATE TABLE instance_status_history (
    instance           TEXT    NOT NULL,
    valid_from         INTEGER NOT NULL,
    desired_version    TEXT,
    target_version     TEXT,
    target_is_rollback INTEGER,
    current_versions   TEXT,
    status             TEXT,
    decision_version   TEXT,
    waiting_for        TEXT,
    reason             TEXT,
    since              INTEGER,
    decision_position  INTEGER,
    last_good_version  TEXT,
    why                TEXT,
    decided_at         INTEGER,
    removed            INTEGER NOT NULL,
    PRIMARY KEY (instance, valid_from)
) WITHOUT ROWID;

CREATE TABLE stream_catalogue_history (
    stream_id            TEXT    NOT NULL,
    valid_from           INTEGER NOT NULL,           -- a checkpoint
    version              INTEGER,
    first_position       INTEGER,
    last_position        INTEGER,
    first_recorded_at    INTEGER,
    last_recorded_at     INTEGER,
    event_count          INTEGER,
    event_counts_by_type TEXT,
    removed              INTEGER NOT NULL,
    PRIMARY KEY (stream_id, valid_from)
) WITHOUT ROWID;

CREATE TABLE stream_catalogue_checkpoints (
    position INTEGER PRIMARY KEY
);

DELETE FROM desired_state;
DELETE FROM current_state;
DELETE FROM instance_status;
DELETE FROM stream_catalogue;
DELETE FROM projection_checkpoints
WHERE projection IN ('desired_state', 'current_state', 'instance_status', 'stream_catalogue');

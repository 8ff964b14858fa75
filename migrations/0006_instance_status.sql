-- The instance-status projection: per service instance, the engine's last decision about it and
-- the releases around it (what `keelson status` shows).
CREATE TABLE instance_status (
    instance           TEXT    PRIMARY KEY,          -- application/service@channel
    desired_version    TEXT,
    target_version     TEXT,                         -- the release last requested
    target_is_rollback INTEGER NOT NULL,
    current_versions   TEXT    NOT NULL,             -- as the last fetch saw them, comma-separated
    status             TEXT    NOT NULL,
    decision_version   TEXT,                         -- the release the last decision is about
    waiting_for        TEXT,
    reason             TEXT    NOT NULL,
    since              INTEGER NOT NULL,             -- when the status last changed (ms)
    decision_position  INTEGER NOT NULL,
    last_good_version  TEXT
) WITHOUT ROWID;

CREATE TABLE instance_status_snapshots (
    snapshot_position  INTEGER NOT NULL,
    instance           TEXT    NOT NULL,
    desired_version    TEXT,
    target_version     TEXT,
    target_is_rollback INTEGER NOT NULL,
    current_versions   TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    decision_version   TEXT,
    waiting_for        TEXT,
    reason             TEXT    NOT NULL,
    since              INTEGER NOT NULL,
    decision_position  INTEGER NOT NULL,
    last_good_version  TEXT,
    PRIMARY KEY (snapshot_position, instance)
) WITHOUT ROWID;

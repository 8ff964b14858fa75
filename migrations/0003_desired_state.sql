-- The desired-state projection: per service instance, the latest compiled desired state.
CREATE TABLE desired_state (
    instance        TEXT    PRIMARY KEY,             -- application/service@channel
    digest          TEXT    NOT NULL,                -- sha256:<hex> of document
    document        TEXT    NOT NULL,                -- canonical JSON
    version         TEXT    NOT NULL,                -- the release version
    parameters      TEXT    NOT NULL,                -- release parameters, canonical JSON
    position        INTEGER NOT NULL,                -- the DesiredStateCompiled event
    config_digest   TEXT    NOT NULL,                -- the ConfigApplied config it was compiled from
    recorded_at     INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE desired_state_snapshots (
    snapshot_position INTEGER NOT NULL,
    instance        TEXT    NOT NULL,
    digest          TEXT    NOT NULL,
    document        TEXT    NOT NULL,
    version         TEXT    NOT NULL,
    parameters      TEXT    NOT NULL,
    position        INTEGER NOT NULL,
    config_digest   TEXT    NOT NULL,
    recorded_at     INTEGER NOT NULL,
    PRIMARY KEY (snapshot_position, instance)
) WITHOUT ROWID;

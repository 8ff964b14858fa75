-- The deploy timeline: one human-readable row per event that tells a deploy's story (releases,
-- decisions, applies, changed observations, approvals, rollbacks, pauses, alerts). Append-only
-- like the log; indexes make "the latest N entries of one instance/service/application" a short
-- backward index scan, whatever the length of the log.
CREATE TABLE timeline (
    position     INTEGER PRIMARY KEY,       -- the event's position
    recorded_at  INTEGER NOT NULL,          -- ms since 1970
    application  TEXT,
    service      TEXT,
    channel      TEXT,
    kind         TEXT    NOT NULL,
    version      TEXT,
    actor        TEXT,
    line         TEXT    NOT NULL
);

CREATE INDEX timeline_by_instance ON timeline (application, service, channel, position);
CREATE INDEX timeline_by_service ON timeline (application, service, position);
CREATE INDEX timeline_by_application ON timeline (application, position);

-- Never written: the timeline needs no snapshots (rows never change), but every projection has a
-- snapshot table.
CREATE TABLE timeline_snapshots (
    snapshot_position INTEGER NOT NULL,
    position          INTEGER NOT NULL,
    PRIMARY KEY (snapshot_position, position)
) WITHOUT ROWID;

-- The engine's state at a log position (KeelsonCore.EngineSnapshot), so that a worker
-- starts from the latest one instead of folding the log from its first event. Written by the
-- worker every so many events; only the latest few are kept (the log holds everything, and
-- `keelson db check` verifies each one against a fold of the log).
CREATE TABLE engine_snapshots (
    position     INTEGER PRIMARY KEY,   -- the last event folded into it
    fold_version INTEGER NOT NULL,      -- EngineSnapshot.foldVersion of the fold that made it
    state        TEXT    NOT NULL,      -- the EngineSnapshot: JSON lines, a header then one per instance
    written_at   INTEGER NOT NULL       -- ms since 1970
);

-- Decisions say why as a value (engine version 3 on). The status keeps one whose words change
-- with time (a countdown: "soak: stable for 1m12s of 2m"), to say it again as of the moment it is
-- read, beside the words as of the decision. NULL / 0 for every other reason (and for reasons that
-- are only words: engine version 2, a worker that could not decide, a removal), so that rows
-- written before this migration stay what a rebuild makes.
ALTER TABLE instance_status ADD COLUMN why TEXT;                            -- the Reason, JSON
ALTER TABLE instance_status ADD COLUMN decided_at INTEGER NOT NULL DEFAULT 0; -- its decision's now (ms)
ALTER TABLE instance_status_snapshots ADD COLUMN why TEXT;
ALTER TABLE instance_status_snapshots ADD COLUMN decided_at INTEGER NOT NULL DEFAULT 0;

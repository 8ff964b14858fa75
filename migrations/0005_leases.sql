-- Leases: which worker owns which service instance, until when. Coordination state, not history:
-- rows are updated in place (a change of owner is recorded as a LeaseAcquired event). Times are
-- milliseconds since 1970 from the worker's clock.
CREATE TABLE leases (
    key         TEXT    PRIMARY KEY,    -- instance:<application>/<service>@<channel>
    owner       TEXT    NOT NULL,       -- the worker's name
    expires_at  INTEGER NOT NULL,
    acquired_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX leases_by_owner ON leases (owner);

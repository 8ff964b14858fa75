-- API tokens: who may call the server, with which role. Credentials, not history: only the SHA-256
-- of each token is kept (tokens are 256 random bits, so a fast hash is enough), and a revoked
-- token keeps its row (revoked_at set) so that names are not reused by accident.
CREATE TABLE tokens (
    name        TEXT    PRIMARY KEY,    -- unique; what events record as the actor (token:<name>)
    role        TEXT    NOT NULL CHECK (role IN ('viewer', 'deployer', 'admin')),
    hash        TEXT    NOT NULL UNIQUE, -- hex SHA-256 of the token text
    hint        TEXT    NOT NULL,       -- the token's first characters, to tell tokens apart in lists
    created_at  INTEGER NOT NULL,       -- milliseconds since 1970
    created_by  TEXT    NOT NULL,
    last_used_at INTEGER,
    revoked_at  INTEGER
) WITHOUT ROWID;

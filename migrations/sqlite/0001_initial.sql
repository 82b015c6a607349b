-- xceptor schema, version 1 (SQLite).
-- Times are integer milliseconds since the Unix epoch (UTC); one clock for every comparison in SQL.

-- One row per distinct image content; two URLs serving the same bytes share it.
CREATE TABLE images (
    id            INTEGER PRIMARY KEY,
    sha256        BLOB    NOT NULL UNIQUE CHECK (length(sha256) = 32),
    width         INTEGER NOT NULL CHECK (width > 0),
    height        INTEGER NOT NULL CHECK (height > 0),
    bytes         INTEGER NOT NULL CHECK (bytes >= 0),
    content_type  TEXT,
    thumbnail     BLOB,                      -- small JPEG for people to look at
    created_at    INTEGER NOT NULL
);

-- One embedding of an image by one model.
CREATE TABLE embeddings (
    id            INTEGER PRIMARY KEY,
    image_id      INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    model_id      TEXT    NOT NULL,
    dimensions    INTEGER NOT NULL CHECK (dimensions > 0),
    vector        BLOB    NOT NULL,          -- float32 little-endian, as computed
    normalized    BLOB    NOT NULL,          -- float32 little-endian, L2-normalised, for cosine search
    created_at    INTEGER NOT NULL,
    UNIQUE (image_id, model_id),
    CHECK (length(vector) = 4 * dimensions AND length(normalized) = 4 * dimensions)
);

-- The top labels of an embedding's classification, best first (rank 0).
CREATE TABLE labels (
    embedding_id  INTEGER NOT NULL REFERENCES embeddings(id) ON DELETE CASCADE,
    rank          INTEGER NOT NULL CHECK (rank >= 0),
    label         TEXT    NOT NULL,
    score         REAL    NOT NULL,
    PRIMARY KEY (embedding_id, rank)
) WITHOUT ROWID;

CREATE TABLE jobs (
    id                INTEGER PRIMARY KEY,
    url               TEXT    NOT NULL UNIQUE,
    state             TEXT    NOT NULL DEFAULT 'queued'
                      CHECK (state IN ('queued', 'running', 'done', 'failed', 'dead')),
    priority          INTEGER NOT NULL DEFAULT 0,
    attempts          INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts      INTEGER NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
    available_at      INTEGER NOT NULL,
    lease_owner       TEXT,
    lease_expires_at  INTEGER,
    last_error        TEXT,
    error_class       TEXT    CHECK (error_class IN ('transient', 'permanent')),
    http_status       INTEGER,
    metadata          TEXT,                  -- JSON object of extra input columns
    image_id          INTEGER REFERENCES images(id),
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    finished_at       INTEGER,
    CHECK ((state = 'running') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL))
);

-- Every index costs a page write per state change, so there are just three partial ones, one per phase
-- of a job's life, and each serves the claim, the status counts and the admin commands of its phase.
-- Queued: claim order (highest priority first, then oldest); finished jobs cost the claim nothing.
CREATE INDEX jobs_claim_order ON jobs (priority DESC, id) WHERE state = 'queued';
-- Running: finding expired leases.
CREATE INDEX jobs_lease_expiry ON jobs (lease_expires_at) WHERE state = 'running';
-- Finished: counts per final state, recent throughput, purge of old done jobs.
CREATE INDEX jobs_finished ON jobs (state, finished_at) WHERE state IN ('done', 'failed', 'dead');
-- Purge: is an image still used by some job?
CREATE INDEX jobs_image ON jobs (image_id) WHERE image_id IS NOT NULL;

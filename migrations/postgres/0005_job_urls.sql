-- xceptor schema, version 5 (PostgreSQL): a job's URL is unique through a table of its own, written once
-- when the job arrives. As a unique index on jobs, the URL was inserted again, and checked against the
-- row's earlier versions, at every update of the job (claim, heartbeat, finish: none can be HOT), a third
-- of the buffers a claim touched. jobs keeps the url column, unindexed, for the claims to return.
-- No foreign key: its check at every arriving job halved enqueue's rate; the purge that deletes jobs
-- deletes their rows here in the same statement.
CREATE TABLE job_urls (
    url     text    PRIMARY KEY,
    job_id  bigint  NOT NULL
);
INSERT INTO job_urls (url, job_id) SELECT url, id FROM jobs;
ALTER TABLE jobs DROP CONSTRAINT jobs_url_key;

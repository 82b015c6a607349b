#!/usr/bin/env python3
"""Same-server anchor for `xceptor bench queue --db postgres://...`: River's SQL pattern, driven from Python.

River (Go) and pgmq claim the same way: a CTE selects the next available rows in priority order with
FOR UPDATE SKIP LOCKED and LIMIT n, and an UPDATE of those rows to running returns them; completions are
one UPDATE of many ids (River's batch completer). This runs that pattern on a table shaped like
river_job (its columns and its prioritized-fetching index), through psycopg (PyPI) with one connection
per process, autocommit, on the server and database xceptor is measured on, in its own table.

Prints one JSON object: {"results": [{"processes", "batch_size", "jobs", "seconds", "jobs_per_second",
"client_cpu_microseconds_per_job"}], "dead_rows": N}; the CPU is the claiming processes' own (user and system).
"""
import argparse
import json
import multiprocessing
import time

import psycopg

SCHEMA = """
DROP TABLE IF EXISTS bench_river_job;
CREATE TABLE bench_river_job (
    id            bigserial PRIMARY KEY,
    args          jsonb       NOT NULL DEFAULT '{}',
    attempt       smallint    NOT NULL DEFAULT 0,
    attempted_at  timestamptz,
    attempted_by  text[],
    created_at    timestamptz NOT NULL DEFAULT now(),
    finalized_at  timestamptz,
    kind          text        NOT NULL DEFAULT 'embed',
    max_attempts  smallint    NOT NULL DEFAULT 5,
    priority      smallint    NOT NULL DEFAULT 1,
    queue         text        NOT NULL DEFAULT 'default',
    state         text        NOT NULL DEFAULT 'available',
    scheduled_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bench_river_job_prioritized_fetching_index ON bench_river_job (state, queue, priority, scheduled_at, id);
"""

CLAIM = """
WITH locked_jobs AS (
    SELECT id FROM bench_river_job
    WHERE state = 'available' AND queue = 'default' AND scheduled_at <= now()
    ORDER BY priority ASC, scheduled_at ASC, id ASC
    LIMIT %s FOR UPDATE SKIP LOCKED)
UPDATE bench_river_job SET state = 'running', attempt = bench_river_job.attempt + 1, attempted_at = now(),
    attempted_by = array_append(bench_river_job.attempted_by, %s)
FROM locked_jobs WHERE bench_river_job.id = locked_jobs.id
RETURNING bench_river_job.id, bench_river_job.args
"""

COMPLETE = "UPDATE bench_river_job SET state = 'completed', finalized_at = now() WHERE id = ANY(%s)"


def drain(url, batch, name, start_barrier, results):
    with psycopg.connect(url, autocommit=True) as connection:
        start_barrier.wait()
        started, started_cpu = time.time(), time.process_time()
        done = 0
        while True:
            rows = connection.execute(CLAIM, (batch, name)).fetchall()
            if not rows:
                break
            connection.execute(COMPLETE, ([row[0] for row in rows],))
            done += len(rows)
        results.put((done, started, time.time(), time.process_time() - started_cpu))


def measure(url, jobs, processes, batch):
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DELETE FROM bench_river_job")
        with connection.cursor().copy("COPY bench_river_job (args) FROM STDIN") as copy:
            for index in range(jobs):
                copy.write_row(('{"url": "http://bench.invalid/%d.jpg"}' % index,))
        # As xceptor's benchmark does before each step: the deleted rows' index entries gone, as autovacuum leaves a queue.
        connection.execute("VACUUM (ANALYZE) bench_river_job")
    barrier = multiprocessing.Barrier(processes)
    results = multiprocessing.Queue()
    children = [
        multiprocessing.Process(target=drain, args=(url, batch, f"bench-{index}", barrier, results)) for index in range(processes)
    ]
    for child in children:
        child.start()
    reports = [results.get() for _ in children]
    for child in children:
        child.join()
    completed = sum(report[0] for report in reports)
    if completed != jobs:
        raise SystemExit(f"completed {completed} of {jobs} jobs")
    seconds = max(report[2] for report in reports) - min(report[1] for report in reports)
    cpu = sum(report[3] for report in reports)
    return {"processes": processes, "batch_size": batch, "jobs": jobs, "seconds": seconds, "jobs_per_second": jobs / seconds,
            "client_cpu_microseconds_per_job": cpu / jobs * 1e6}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="postgres:// URL of a scratch database")
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 32])
    args = parser.parse_args()
    with psycopg.connect(args.url, autocommit=True) as connection:
        connection.execute(SCHEMA)
    results = [measure(args.url, args.jobs, processes, batch) for batch in args.batch for processes in args.processes]
    time.sleep(1.5)  # the statistics collector's delay
    with psycopg.connect(args.url, autocommit=True) as connection:
        dead = connection.execute("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'bench_river_job'").fetchone()[0]
    print(json.dumps({"results": results, "dead_rows": dead}))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Same-machine anchor for `xceptor bench queue`: goqite's SQL pattern, run through Python's sqlite3.

goqite (a Go queue on SQLite) reports ~13,000 send+receive+delete per second on an M1 laptop. Go modules
cannot be fetched here, so this reproduces what goqite does per message, as described in its README and
schema (one table, an `updated` trigger, an index on (queue, priority desc, created), WAL, a busy
timeout): an INSERT to send, an UPDATE ... RETURNING of the oldest visible message to receive, and a
DELETE by id, each its own autocommit transaction. Python's sqlite3 is a thin C binding over the same
libsqlite3 xceptor links, so the figure is what SQLite itself costs for that pattern on this machine.

Prints one JSON object: {"messages": N, "seconds": S, "messages_per_second": R, "synchronous": "..."}.
"""
import argparse
import json
import os
import sqlite3
import tempfile
import time

SCHEMA = """
create table goqite (
  id text primary key default ('m_' || lower(hex(randomblob(16)))),
  created text not null default (strftime('%Y-%m-%dT%H:%M:%fZ')),
  updated text not null default (strftime('%Y-%m-%dT%H:%M:%fZ')),
  queue text not null,
  body blob not null,
  timeout text not null default (strftime('%Y-%m-%dT%H:%M:%fZ')),
  received integer not null default 0,
  priority integer not null default 0
) strict;
create trigger goqite_updated_timestamp after update on goqite begin
  update goqite set updated = strftime('%Y-%m-%dT%H:%M:%fZ') where id = old.id;
end;
create index goqite_queue_priority_created_idx on goqite (queue, priority desc, created);
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--synchronous", default="NORMAL", choices=["NORMAL", "FULL"])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        db = sqlite3.connect(os.path.join(directory, "goqite.sqlite"), isolation_level=None)
        db.execute("pragma journal_mode = wal")
        db.execute(f"pragma synchronous = {args.synchronous}")
        db.execute("pragma busy_timeout = 5000")
        db.executescript(SCHEMA)

        def iso(t):
            return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)

        start = time.perf_counter()
        for n in range(args.messages):
            now = time.time()
            db.execute("insert into goqite (queue, body, timeout) values (?, ?, ?)", ("bench", b"hello", iso(now - 1)))
            row = db.execute(
                """update goqite set timeout = ?, received = received + 1
                   where id = (select id from goqite where queue = ? and ? >= timeout and received < ?
                               order by priority desc, created limit 1)
                   returning id, body""",
                (iso(now + 5), "bench", iso(now), 3),
            ).fetchone()
            db.execute("delete from goqite where queue = ? and id = ?", ("bench", row[0]))
        seconds = time.perf_counter() - start

    print(json.dumps({"messages": args.messages, "seconds": seconds,
                      "messages_per_second": args.messages / seconds, "synchronous": args.synchronous}))


if __name__ == "__main__":
    main()

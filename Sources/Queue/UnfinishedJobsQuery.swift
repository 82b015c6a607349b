/// `hasUnfinishedJobs` in SQL both drivers run as written: the first row of each state's partial index
/// (`jobs_claim_order`, `jobs_lease_expiry`), in that index's order. `state IN ('queued', 'running')`
/// matches neither index's predicate, so SQLite and PostgreSQL scanned the whole table (17-30 ms per
/// 100-200k jobs). `EXISTS (... WHERE state = 'queued')` fared no better in PostgreSQL once the queue had
/// drained: the statistics still counted the jobs queued when the table was last analyzed, so the planner
/// expected a sequential scan to meet one at once, and it read every row instead (50-80 ms per 435k jobs,
/// 250 ms beside 16 claimers) at every idle worker's look and every drain's end. A LIMIT 1 in the index's
/// order is an index scan under any statistics.
public enum UnfinishedJobsQuery {
    public static let sql = """
        SELECT (SELECT id FROM jobs WHERE state = 'queued' ORDER BY priority DESC, id LIMIT 1) IS NOT NULL
            OR (SELECT id FROM jobs WHERE state = 'running' ORDER BY lease_expires_at LIMIT 1) IS NOT NULL
        """
}

/// `hasUnfinishedJobs` in SQL both drivers run as written. One EXISTS per state, each answered by that
/// state's partial index (`jobs_claim_order`, `jobs_lease_expiry`); `state IN ('queued', 'running')`
/// matches neither index's predicate, so SQLite and PostgreSQL scanned the whole table instead: 17-30 ms
/// per 100-200k jobs (seconds for millions), for every idle `--until-empty` worker's look and every drain's end.
public enum UnfinishedJobsQuery {
    public static let sql =
        "SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'queued') OR EXISTS (SELECT 1 FROM jobs WHERE state = 'running')"
}

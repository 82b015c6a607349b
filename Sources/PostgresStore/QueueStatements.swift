import PostgresNIO
import Queue

// The statements of a worker's hot path, prepared: each connection plans them once instead of at every call
// (planning the claim cost about as much as running it).

/// Claims up to `limit` available jobs for `owner`, in priority order, skipping rows other claimers hold.
/// The locked ids come as one array (`id = ANY (ARRAY(...))`), so that the plan a connection keeps for the
/// statement looks them up by primary key: with `id IN (subquery)` or a joined CTE the generic plan hashes
/// a scan of the whole table, since it cannot know that the LIMIT is small. The same claim runs inside
/// `xceptor_complete_and_claim` (migrations/postgres/0004): a change to one belongs in a migration for the other.
struct ClaimStatement: PostgresPreparedStatement {
    typealias Row = (Int64, String, Int, Int, Int, String?)

    static let sql = """
        UPDATE jobs SET state = 'running', attempts = attempts + 1,
            lease_owner = $1::text, lease_expires_at = $2::bigint, updated_at = $3::bigint
        WHERE id = ANY (ARRAY(
            SELECT id FROM jobs WHERE state = 'queued' AND available_at <= $3::bigint
            ORDER BY priority DESC, id LIMIT $4::bigint FOR UPDATE SKIP LOCKED))
        RETURNING id, url, attempts, max_attempts, priority, metadata::text
        """

    var owner: String
    var expiresAt: Int64
    var now: Int64
    var limit: Int64

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 4)
        bindings.append(owner)
        bindings.append(expiresAt)
        bindings.append(now)
        bindings.append(limit)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        var cells = CellReader(row)
        return try Self.decodeJob(&cells)
    }

    /// The columns of RETURNING, from the reader's position.
    static func decodeJob(_ cells: inout CellReader) throws -> Row {
        let id = try cells.next(Int64.self), url = try cells.next(String.self)
        let attempts = try cells.next(Int.self), maxAttempts = try cells.next(Int.self), priority = try cells.next(Int.self)
        return (id, url, attempts, maxAttempts, priority, try cells.next(String?.self))
    }
}

/// A row's cells in order, each decoded as its concrete type. `PostgresRow.decode` of a tuple type goes
/// through parameter packs, which the runtime resolves for every row (generic metadata lookups, dynamic
/// casts): that was a seventh of a claiming process's CPU (`bench queue`, one claimer, batches of 32).
struct CellReader {
    private var cells: PostgresRow.Iterator

    init(_ row: PostgresRow) { cells = row.makeIterator() }

    mutating func next<Value: PostgresDecodable>(_ type: Value.Type) throws -> Value {
        guard let cell = cells.next() else { throw MissingColumn(type: "\(Value.self)") }
        return try cell.decode(Value.self)
    }

    /// A row with fewer columns than its statement names: this build's SQL and its decoding disagree.
    struct MissingColumn: Error, CustomStringConvertible {
        var type: String
        var description: String { "a row ended before its \(type) column (the statement and its decoding disagree)" }
    }
}

/// Leases as the columns of an `unnest` (`$1::bigint[], $2::text[], $3::bigint[]`): the fencing condition
/// of every call that takes leases. The condition names no `state = 'running'`: a lease owner is set only
/// while running (the table's CHECK), and naming the state let the planner walk the whole lease index, stale
/// entries and all, for every batch instead of looking up its ids by primary key.
struct Fence {
    var ids: [Int64], owners: [String], attempts: [Int64]

    init(_ leases: [JobLease]) {
        ids = leases.map(\.jobID)
        owners = leases.map(\.owner)
        attempts = leases.map { Int64($0.attempt) }
    }

    /// Appends the three arrays, as a statement's first three parameters.
    func append(to bindings: inout PostgresBindings) {
        bindings.append(ids)
        bindings.append(owners)
        bindings.append(attempts)
    }
}

/// Marks the jobs still held done (without results), then claims up to `limit` more: one round trip, one
/// commit, two snapshots (`xceptor_complete_and_claim`, schema version 4, says why). Rows: each finished id
/// (`finished` true), then each claimed job as `ClaimStatement` returns it.
struct CompleteAndClaimStatement: PostgresPreparedStatement {
    typealias Row = (finished: Bool, claim: ClaimStatement.Row)

    static let sql = """
        SELECT finished, id, url, attempts, max_attempts, priority, metadata
        FROM xceptor_complete_and_claim($1::bigint[], $2::text[], $3::bigint[], $4::text, $5::bigint, $6::bigint, $7::bigint)
        """

    var fence: Fence
    var owner: String
    var expiresAt: Int64
    var now: Int64
    var limit: Int64

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 7)
        fence.append(to: &bindings)
        bindings.append(owner)
        bindings.append(expiresAt)
        bindings.append(now)
        bindings.append(limit)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        var cells = CellReader(row)
        let finished = try cells.next(Bool.self)
        return (finished, try ClaimStatement.decodeJob(&cells))
    }
}

/// Extends the leases still held; returns their ids.
struct HeartbeatStatement: PostgresPreparedStatement {
    typealias Row = Int64

    static let sql = """
        UPDATE jobs SET lease_expires_at = $4::bigint, updated_at = $5::bigint
        FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS l (id, owner, attempt)
        WHERE jobs.id = l.id AND jobs.lease_owner = l.owner AND jobs.attempts = l.attempt
        RETURNING jobs.id
        """

    var fence: Fence
    var expiresAt: Int64
    var now: Int64

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 5)
        fence.append(to: &bindings)
        bindings.append(expiresAt)
        bindings.append(now)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Int64.self) }
}

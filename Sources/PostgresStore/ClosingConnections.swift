import PostgresNIO
import Synchronization

/// Every statement the store sends goes through `run`, which races it against its connection's close.
///
/// Why: PostgresNIO 1.33 hands a statement to its channel without a write promise. When the server has just
/// closed the connection (a restart, a failover) and the channel's handlers are already gone, the write is
/// dropped and the statement's own promise is never completed, so its caller waits forever. A worker whose
/// server restarted hung exactly so: a transaction's ROLLBACK, written after the server's goodbye. Here a
/// closed connection fails the statements still waiting on it; a statement the library lost is left to
/// wait alone, and the pool replaces the connection.
extension PostgresConnection {
    /// `query`, failing when the connection closes before the statement's rows begin. Reading the rows
    /// needs no guard: a connection that closes mid-stream fails its stream.
    @discardableResult
    func run(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRowSequence {
        try await ClosingConnections.shared.race(self) { connection in try await connection.query(query, logger: logger) }
    }

    /// A prepared statement's rows, read whole, failing when the connection closes first.
    func run<Statement: PostgresPreparedStatement & Sendable>(_ statement: Statement, logger: Logger) async throws -> [Statement.Row]
    where Statement.Row: Sendable {
        try await ClosingConnections.shared.race(self) { connection in
            var rows: [Statement.Row] = []
            for try await row in try await connection.execute(statement, logger: logger) { rows.append(row) }
            return rows
        }
    }
}

extension PostgresConnection {
    /// BEGIN, `body`, COMMIT, each statement through `run`. On failure, ROLLBACK; a connection that cannot
    /// even roll back is closed, so the pool never lends it out mid-transaction.
    func transaction<T: Sendable>(
        logger: Logger, isolation: isolated (any Actor)? = #isolation, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        _ = try await run("BEGIN", logger: logger)
        do {
            let value = try await body(self)
            _ = try await run("COMMIT", logger: logger)
            return value
        } catch {
            if !isClosed {
                do { _ = try await run("ROLLBACK", logger: logger) } catch { try? await close() }
            }
            throw error
        }
    }
}

/// The statements waiting on each open connection, and one close callback per connection that fails them.
final class ClosingConnections: Sendable {
    static let shared = ClosingConnections()

    private struct Waiting {
        var statements: [UInt64: @Sendable (any Error) -> Void] = [:]
    }

    private let state = Mutex<(next: UInt64, connections: [ObjectIdentifier: Waiting])>((0, [:]))

    /// Runs `statement` in a task of its own and returns its outcome, or fails as soon as `connection` closes.
    func race<T: Sendable>(
        _ connection: PostgresConnection, _ statement: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let outcome = Once<T>()
        return try await withCheckedThrowingContinuation { continuation in
            outcome.wait(continuation)
            let key = ObjectIdentifier(connection)
            let (ticket, watchClose) = state.withLock { state -> (UInt64, Bool) in
                state.next += 1
                let isNew = state.connections[key] == nil
                state.connections[key, default: Waiting()].statements[state.next] = { outcome.resume(throwing: $0) }
                return (state.next, isNew)
            }
            if watchClose {
                // Runs at once when the connection closed already; after its run a later statement registers anew.
                connection.closeFuture.whenComplete { [self] _ in closed(key) }
            }
            if connection.isClosed { closed(key) }
            Task {
                let result = await Result(catching: { try await statement(connection) })
                outcome.resume(with: result)
                state.withLock { _ = $0.connections[key]?.statements.removeValue(forKey: ticket) }
            }
        }
    }

    private func closed(_ key: ObjectIdentifier) {
        let waiting = state.withLock { $0.connections.removeValue(forKey: key) }
        for fail in waiting?.statements.values ?? [:].values {
            fail(ConnectionClosedError())
        }
    }
}

/// A continuation resumed by whichever outcome comes first; later ones are dropped.
private final class Once<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T, any Error>?>(nil)

    func wait(_ continuation: CheckedContinuation<T, any Error>) {
        self.continuation.withLock { $0 = continuation }
    }

    func resume(with result: Result<T, any Error>) {
        continuation.withLock { $0.take() }?.resume(with: result)
    }

    func resume(throwing error: any Error) { resume(with: .failure(error)) }
}

extension Result where Failure == any Error {
    fileprivate init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

/// What a statement fails with when its connection closed before the server answered it.
struct ConnectionClosedError: Error, CustomStringConvertible {
    var description: String { "the connection was closed before the server answered" }
}

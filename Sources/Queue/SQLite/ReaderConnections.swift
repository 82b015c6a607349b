import Foundation

/// Up to `limit` read-only connections to one store file, opened when first needed and kept. A connection
/// taken is used by that one call alone until it is put back, which is what makes this `@unchecked Sendable`.
final class ReaderConnections: @unchecked Sendable {
    private let path: String
    private let busyTimeoutMilliseconds: Int
    private let limit: Int
    private let lock = NSLock()
    private var idle: [SQLiteConnection] = []
    private var opened = 0

    init(path: String, busyTimeoutMilliseconds: Int, limit: Int = 4) {
        self.path = path
        self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
        self.limit = limit
    }

    /// An idle connection, a new one while fewer than `limit` are open, else nil.
    func take() throws -> SQLiteConnection? {
        enum Choice {
            case reuse(SQLiteConnection)
            case open, none
        }
        let choice: Choice = lock.withLock {
            if let connection = idle.popLast() { return .reuse(connection) }
            guard opened < limit else { return .none }
            opened += 1
            return .open
        }
        switch choice {
        case let .reuse(connection): return connection
        case .none: return nil
        case .open:
            do {
                let connection = try SQLiteConnection(path: path)
                connection.setBusyTimeout(milliseconds: busyTimeoutMilliseconds)
                // A reader must never write: SQLite refuses any write on this connection.
                try connection.execute("PRAGMA query_only = ON")
                return connection
            } catch {
                lock.withLock { opened -= 1 }
                throw error
            }
        }
    }

    func put(_ connection: SQLiteConnection) {
        lock.withLock { idle.append(connection) }
    }
}

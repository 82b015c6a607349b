import CSQLite
import Foundation

/// A value bound to a statement parameter.
enum SQLiteValue {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

extension SQLiteValue {
    static func integer(_ value: Int) -> SQLiteValue { .integer(Int64(value)) }
    static func optionalText(_ value: String?) -> SQLiteValue { value.map { .text($0) } ?? .null }
    static func optionalInteger(_ value: Int?) -> SQLiteValue { value.map { .integer(Int64($0)) } ?? .null }
    static func optionalBlob(_ value: [UInt8]?) -> SQLiteValue { value.map { .blob($0) } ?? .null }
}

/// An error reported by SQLite, with the statement that caused it.
struct SQLiteError: Error, CustomStringConvertible {
    var code: Int32
    var message: String
    var sql: String?

    /// The primary result code (SQLITE_BUSY for SQLITE_BUSY_SNAPSHOT, and so on).
    var primaryCode: Int32 { code & 0xFF }

    var description: String {
        sql.map { "\(message) (code \(code)) in: \($0)" } ?? "\(message) (code \(code))"
    }
}

/// One row of a result, valid only inside the callback that receives it.
struct SQLiteRow {
    fileprivate let statement: OpaquePointer

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }
    func int(_ column: Int32) -> Int { Int(sqlite3_column_int64(statement, column)) }
    func double(_ column: Int32) -> Double { sqlite3_column_double(statement, column) }
    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }
    func optionalInt64(_ column: Int32) -> Int64? { isNull(column) ? nil : int64(column) }
    func optionalInt(_ column: Int32) -> Int? { isNull(column) ? nil : int(column) }

    func text(_ column: Int32) -> String {
        guard let bytes = sqlite3_column_text(statement, column) else { return "" }
        return String(cString: bytes)
    }

    func optionalText(_ column: Int32) -> String? { isNull(column) ? nil : text(column) }

    func blob(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(statement, column))
        guard count > 0, let pointer = sqlite3_column_blob(statement, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    func optionalBlob(_ column: Int32) -> [UInt8]? { isNull(column) ? nil : blob(column) }

    /// Appends a blob of little-endian float32 values straight to `values` (no intermediate byte array).
    func appendFloats(_ column: Int32, to values: inout [Float]) {
        let count = Int(sqlite3_column_bytes(statement, column)) / MemoryLayout<Float>.size
        guard count > 0, let pointer = sqlite3_column_blob(statement, column) else { return }
        values.append(contentsOf: UnsafeBufferPointer(start: pointer.assumingMemoryBound(to: Float.self), count: count))
    }
}

/// A thin, synchronous wrapper over one libsqlite3 connection: prepared-statement cache, typed binding,
/// and transactions. Not thread-safe; `SQLiteJobStore` confines each connection to one serial queue.
final class SQLiteConnection {
    let path: String
    private let handle: OpaquePointer
    private var statements: [String: OpaquePointer] = [:]

    /// SQLite copies bound text and blobs when given this destructor.
    private static let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

    init(path: String) throws {
        self.path = path
        var db: OpaquePointer?
        // NOMUTEX: each connection is used by one thread at a time, so SQLite's own locking is wasted work.
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let code = sqlite3_open_v2(path, &db, flags, nil)
        guard code == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(db)
            throw SQLiteError(code: code, message: message, sql: nil)
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close_v2(handle)
    }

    /// Waits for other processes' locks for up to `milliseconds`, polling from 20 µs up to 1 ms.
    ///
    /// SQLite's own busy_timeout handler sleeps 1, 2, 5, 10... ms between tries, while a queue transaction
    /// holds the lock for about 100 µs: processes sharing a file then spend most of their time asleep and
    /// four processes finish later than one. Short, jittered polls keep the lock busy instead.
    /// Zero removes the handler: a locked database then fails at once with SQLITE_BUSY.
    func setBusyTimeout(milliseconds: Int) {
        guard milliseconds > 0 else {
            sqlite3_busy_handler(handle, nil, nil)
            return
        }
        // The timeout travels in the context pointer itself: no allocation to keep alive or free.
        sqlite3_busy_handler(
            handle,
            { context, attempt in
                let timeoutMicroseconds = Int(bitPattern: context) * 1000
                let step = min(1000, 20 << min(Int(attempt), 6))  // 20, 40, ... 640, then 1000 µs
                let waitedMicroseconds = attempt < 6 ? 20 * ((1 << attempt) - 1) : 1260 + (Int(attempt) - 6) * 1000
                guard waitedMicroseconds < timeoutMicroseconds else { return 0 }  // give up: SQLITE_BUSY
                usleep(UInt32(step / 2 + Int.random(in: 0...step / 2)))
                return 1
            }, UnsafeMutableRawPointer(bitPattern: milliseconds))
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    var changes: Int { Int(sqlite3_changes(handle)) }
    /// The rowid of the last row this connection inserted.
    var lastInsertedRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Runs one or more statements without parameters (schema, pragmas).
    func execute(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let code = sqlite3_exec(handle, sql, nil, nil, &message)
        if code != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
            sqlite3_free(message)
            throw SQLiteError(code: sqlite3_extended_errcode(handle), message: text, sql: sql)
        }
    }

    /// Runs a statement, calling `row` for each result row.
    func query(_ sql: String, _ bindings: [SQLiteValue] = [], row: (SQLiteRow) throws -> Void) throws {
        let statement = try prepared(sql)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        try bind(bindings, to: statement, sql: sql)
        while true {
            let code = sqlite3_step(statement)
            if code == SQLITE_ROW {
                try row(SQLiteRow(statement: statement))
            } else if code == SQLITE_DONE {
                return
            } else {
                throw error(code: code, sql: sql)
            }
        }
    }

    /// Runs a statement that returns no rows (or whose rows are not needed); returns `changes`.
    @discardableResult
    func run(_ sql: String, _ bindings: [SQLiteValue] = []) throws -> Int {
        try query(sql, bindings) { _ in }
        return changes
    }

    /// The first row mapped by `transform`, or nil when there is none.
    func first<T>(_ sql: String, _ bindings: [SQLiteValue] = [], _ transform: (SQLiteRow) throws -> T) throws -> T? {
        var result: T?
        try query(sql, bindings) { row in
            if result == nil { result = try transform(row) }
        }
        return result
    }

    /// Runs `body` in a transaction. `immediate` takes the write lock up front: a read that later wants to
    /// write could otherwise fail with SQLITE_BUSY without waiting, since SQLite cannot upgrade it safely.
    func transaction<T>(immediate: Bool = true, _ body: () throws -> T) throws -> T {
        // Prepared once and cached like any statement: parsing BEGIN and COMMIT each time costs measurably.
        try run(immediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED")
        do {
            let value = try body()
            try run("COMMIT")
            return value
        } catch {
            // A failed COMMIT (disk full, I/O error) may leave the transaction open; roll it back too.
            if sqlite3_get_autocommit(handle) == 0 { try? execute("ROLLBACK") }
            throw error
        }
    }

    private func prepared(_ sql: String) throws -> OpaquePointer {
        if let statement = statements[sql] { return statement }
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard code == SQLITE_OK, let statement else { throw error(code: code, sql: sql) }
        statements[sql] = statement
        return statement
    }

    private func bind(_ values: [SQLiteValue], to statement: OpaquePointer, sql: String) throws {
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let code: Int32
            switch value {
            case .null:
                code = sqlite3_bind_null(statement, index)
            case let .integer(number):
                code = sqlite3_bind_int64(statement, index, number)
            case let .real(number):
                code = sqlite3_bind_double(statement, index, number)
            case let .text(string):
                code = sqlite3_bind_text(statement, index, string, -1, Self.transient)
            case let .blob(bytes):
                code = bytes.withUnsafeBytes { buffer in
                    // A zero-length blob still needs a non-null pointer, or SQLite stores NULL.
                    sqlite3_bind_blob(
                        statement, index, buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1),
                        Int32(buffer.count), Self.transient)
                }
            }
            guard code == SQLITE_OK else { throw error(code: code, sql: sql) }
        }
    }

    private func error(code: Int32, sql: String?) -> SQLiteError {
        SQLiteError(code: sqlite3_extended_errcode(handle), message: String(cString: sqlite3_errmsg(handle)), sql: sql)
    }
}

/// Errors of the job store. Each says what went wrong and what to do about it.
public enum QueueError: Error, Equatable, CustomStringConvertible {
    /// The database could not be opened or created.
    case cannotOpen(location: String, reason: String)
    /// The path names a directory, device, pipe or socket, not a database file.
    case notAFile(location: String, isDirectory: Bool)
    /// No database exists there, and the command only reads or manages one.
    case missing(location: String)
    /// The database belongs to another program: it holds tables that are not xceptor's.
    case notAnXceptorDatabase(location: String)
    /// The file is not a database at all, or is damaged.
    case corrupt(location: String, reason: String)
    /// The database was written by a newer xceptor.
    case newerSchema(location: String, found: Int, supported: Int)
    /// Another process held the write lock for longer than the busy timeout.
    case busy(location: String, timeoutMilliseconds: Int)
    /// The disk (or a quota) is full; the transaction was rolled back.
    case diskFull(location: String)
    /// The database or its directory is read-only.
    case readOnly(location: String)
    /// `--db` names something no driver here understands.
    case unsupportedLocation(String)
    /// An argument is out of range.
    case invalidArgument(String)
    /// The database server cannot be reached now (down, restarting, refusing connections); retrying may help.
    case unavailable(location: String, reason: String)
    /// Anything else the database reported.
    case database(location: String, message: String)

    /// Another process held the database's write lock past the busy timeout: it is busy, not broken.
    public var isLocked: Bool {
        if case .busy = self { return true }
        return false
    }

    /// The database server is down or unreachable for now: waiting and retrying may succeed.
    public var isUnavailable: Bool {
        if case .unavailable = self { return true }
        return false
    }

    /// What went wrong, in the store's terms; front ends add what to do in theirs (which flag, which command).
    public var description: String {
        switch self {
        case let .cannotOpen(location, reason):
            return "cannot open the job database \(location): \(reason)"
        case let .notAFile(location, isDirectory):
            return "cannot open the job database \(location): "
                + (isDirectory ? "it is a directory, not a database file" : "it is not a regular file (a device, pipe or socket)")
        case let .missing(location):
            return "there is no job database at \(location)"
        case let .notAnXceptorDatabase(location):
            return "\(location) is a database of another program, not an xceptor queue; nothing was changed"
        case let .corrupt(location, reason):
            return "\(location) is not a usable database (\(reason)); if it is an xceptor queue, restore it from a backup"
        case let .newerSchema(location, found, supported):
            return
                "\(location) has schema version \(found), but this xceptor understands versions up to \(supported); it was written by a newer xceptor, so upgrade this one"
        case let .busy(location, timeoutMilliseconds):
            return
                "\(location) stayed locked by another process for \(timeoutMilliseconds) ms; nothing was written. Retry; if it persists, look for a stuck xceptor process or a long-running query on that file"
        case let .diskFull(location):
            return "the disk holding \(location) is full; the transaction was rolled back and nothing was lost. Free space and try again"
        case let .readOnly(location):
            return "\(location) is read-only (file permissions or a read-only mount); nothing was written"
        case let .unsupportedLocation(location):
            return
                "\(location) names no job store this build supports: give a SQLite file path or a postgres:// URL"
        case let .unavailable(location, reason):
            return "cannot reach the job database \(location): \(reason); check that the server is running and reachable"
        case let .invalidArgument(message):
            return message
        case let .database(location, message):
            return "database error on \(location): \(message)"
        }
    }
}

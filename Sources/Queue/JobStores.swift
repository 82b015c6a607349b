/// Opens the job store a `--db` value names.
public enum JobStores {
    /// The location used when neither `--db` nor `XCEPTOR_DB` is given.
    public static let defaultLocation = "./xceptor.sqlite"

    /// `location` is a SQLite file path (or `sqlite:PATH`); `postgres://` URLs are reserved for the
    /// PostgreSQL driver. With `create` false, a database that does not exist yet is an error.
    public static func open(_ location: String, create: Bool, configuration: QueueConfiguration = QueueConfiguration()) throws
        -> any JobStore
    {
        if location.hasPrefix("postgres://") || location.hasPrefix("postgresql://") {
            throw QueueError.unsupportedLocation(location)
        }
        if location.contains("://") { throw QueueError.unsupportedLocation(location) }
        let path = location.hasPrefix("sqlite:") ? String(location.dropFirst("sqlite:".count)) : location
        guard !path.isEmpty else {
            throw QueueError.invalidArgument("the job database location is empty; give a file path such as ./xceptor.sqlite")
        }
        return try SQLiteJobStore(path: path, create: create, configuration: configuration)
    }
}

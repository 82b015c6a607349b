import Foundation
import Queue

/// Where a PostgreSQL store lives, parsed from a `--db` URL the way libpq reads one:
/// `postgres://[user[:password]@][host][:port][/database][?sslmode=...&host=/socket/dir]` (`postgresql://` too).
///
/// The password comes from the URL, else `PGPASSWORD`, else `~/.pgpass` (or `PGPASSFILE`); it never
/// appears in `description`, which is what logs and errors show.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    public enum Endpoint: Sendable, Equatable {
        case tcp(host: String, port: Int)
        /// The socket file itself (`DIR/.s.PGSQL.PORT`).
        case unixSocket(path: String)
    }

    /// How the connection uses TLS, by libpq's `sslmode` names.
    public enum TLSMode: String, Sendable, Equatable, CaseIterable {
        /// Plain TCP.
        case disable
        /// TLS when the server offers it, without checking its certificate (libpq's default).
        case prefer
        /// TLS or nothing, without checking the certificate.
        case require
        /// TLS, with the certificate checked against the system's trusted authorities.
        case verifyCA = "verify-ca"
        /// As verify-ca, and the certificate must name the host.
        case verifyFull = "verify-full"
    }

    public var endpoint: Endpoint
    public var user: String
    public var password: String?
    public var database: String
    public var tlsMode: TLSMode

    /// Whether `text` is a PostgreSQL URL (the other `--db` forms are SQLite paths).
    public static func isPostgresURL(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    /// Parses a URL; `environment` and `passwordFile` stand in for the process's own in tests.
    public init(
        parsing text: String, environment: [String: String] = ProcessInfo.processInfo.environment,
        passwordFile: String? = nil
    ) throws {
        guard Self.isPostgresURL(text), let components = URLComponents(string: text) else {
            throw QueueError.invalidArgument(
                "\(Self.redacted(text)) is not a PostgreSQL URL; write postgres://USER@HOST:PORT/DATABASE (percent-encode special characters)"
            )
        }
        var options: [String: String] = [:]
        for item in components.queryItems ?? [] {
            guard let value = item.value else {
                throw QueueError.invalidArgument("the PostgreSQL URL option \(item.name) has no value; write \(item.name)=VALUE")
            }
            options[item.name] = value
        }
        if let unknown = options.keys.sorted().first(where: { !["sslmode", "host", "port", "user", "dbname"].contains($0) }) {
            throw QueueError.invalidArgument(
                "the PostgreSQL URL option \(Self.printable(unknown)) is not supported; the options are sslmode, host, port, user and dbname"
            )
        }
        let user = options["user"] ?? components.user.map { $0.removingPercentEncoding ?? $0 } ?? environment["PGUSER"] ?? Self.loginName
        guard !user.isEmpty else {
            throw QueueError.invalidArgument("the PostgreSQL URL names no user; write postgres://USER@HOST/DATABASE")
        }
        let path =
            components.percentEncodedPath.hasPrefix("/") ? String(components.percentEncodedPath.dropFirst()) : components.percentEncodedPath
        let database = options["dbname"] ?? (path.isEmpty ? nil : path.removingPercentEncoding) ?? environment["PGDATABASE"] ?? user
        guard !database.isEmpty, !database.contains("/") else {
            throw QueueError.invalidArgument("the PostgreSQL URL's database name \(Self.printable(database)) is not valid")
        }
        let portText = options["port"] ?? components.port.map(String.init) ?? environment["PGPORT"] ?? "5432"
        guard let port = Int(portText), (1...65535).contains(port) else {
            throw QueueError.invalidArgument("the PostgreSQL port must be 1-65535, not \(Self.printable(portText))")
        }
        let host = options["host"] ?? components.host.flatMap { $0.isEmpty ? nil : $0 } ?? environment["PGHOST"] ?? "localhost"
        if host.hasPrefix("/") {
            endpoint = .unixSocket(path: (host.hasSuffix("/") ? host : host + "/") + ".s.PGSQL.\(port)")
        } else {
            // URLComponents keeps an IPv6 literal's brackets; the resolver wants it bare.
            endpoint = .tcp(host: host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host, port: port)
        }
        let modeText = options["sslmode"] ?? environment["PGSSLMODE"] ?? "prefer"
        guard let mode = TLSMode(rawValue: modeText == "allow" ? "prefer" : modeText) else {
            throw QueueError.invalidArgument(
                "sslmode \(Self.printable(modeText)) is not one of \(TLSMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        tlsMode = mode
        self.user = user
        self.database = database
        if let password = components.password {
            self.password = password.removingPercentEncoding ?? password
        } else if let password = environment["PGPASSWORD"] {
            self.password = password
        } else {
            let file = passwordFile ?? environment["PGPASSFILE"] ?? environment["HOME"].map { $0 + "/.pgpass" }
            let hostForFile: String
            switch endpoint {
            case .tcp(let host, _): hostForFile = host
            case .unixSocket: hostForFile = "localhost"  // libpq matches socket connections as localhost
            }
            self.password = file.flatMap { PasswordFile(path: $0)?.password(host: hostForFile, port: port, database: database, user: user) }
        }
    }

    /// The URL without its password, for logs and errors.
    public var description: String {
        let place: String
        switch endpoint {
        case let .tcp(host, port): place = (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
        case let .unixSocket(path): place = "(socket \(path))"
        }
        return Self.printable("postgres://\(user)@\(place)/\(database)")
    }

    /// `text` with any password between "://user:" and "@" replaced, for messages about a URL that did not parse.
    static func redacted(_ text: String) -> String {
        guard let scheme = text.range(of: "://") else { return printable(text) }
        let rest = text[scheme.upperBound...]
        guard let at = rest.lastIndex(of: "@"), let colon = rest[..<at].firstIndex(of: ":") else { return printable(text) }
        return printable(String(text[..<scheme.upperBound] + rest[..<colon] + ":***" + rest[at...]))
    }

    /// Text from outside shown with control characters escaped, so a hostile value cannot drive a terminal.
    static func printable(_ text: String) -> String {
        String(text.prefix(300)).unicodeScalars.map { $0.properties.generalCategory == .control ? $0.escaped(asASCII: true) : String($0) }
            .joined()
    }

    private static var loginName: String {
        ProcessInfo.processInfo.environment["USER"] ?? ProcessInfo.processInfo.userName
    }
}

/// `~/.pgpass`: lines of `hostname:port:database:username:password`, `*` matching anything, `\:` and `\\`
/// escaped; the first matching line wins. libpq ignores a file others can read, and so does this.
struct PasswordFile {
    private var entries: [[String]] = []

    init?(path: String) {
        var status = stat()
        guard stat(path, &status) == 0, status.st_mode & 0o077 == 0,
            let data = FileManager.default.contents(atPath: path), data.count <= 1 << 20
        else { return nil }
        for line in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            var fields: [String] = [], field = "", escaped = false
            for character in line {
                if escaped {
                    field.append(character)
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == ":" && fields.count < 4 {
                    fields.append(field)
                    field = ""
                } else {
                    field.append(character)
                }
            }
            fields.append(field)
            if fields.count == 5 { entries.append(fields) }
        }
    }

    func password(host: String, port: Int, database: String, user: String) -> String? {
        let wanted = [host, String(port), database, user]
        return entries.first { entry in zip(entry, wanted).allSatisfy { $0 == "*" || $0 == $1 } }?[4]
    }
}

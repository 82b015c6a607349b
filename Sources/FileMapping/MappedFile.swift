#if canImport(Glibc)
    import Glibc
#endif

/// A whole file mapped read-only, unmapped when the last user lets go. Its pages are the page cache's, so
/// every process that maps the same file shares one copy of them, and a reader keeps its snapshot when a
/// new file is renamed over the path. (Truncating a mapped file in place would make its readers fault;
/// xceptor's writers never do that: they write a new file and rename it.)
public final class MappedFile: @unchecked Sendable {  // immutable after init, and the bytes are never written
    /// The file's bytes; empty for an empty file.
    public let bytes: UnsafeRawBufferPointer

    /// Maps the file at `path`; fails with what went wrong (open, size, map) and the system's reason.
    public init(path: String) throws(MappedFileError) {
        func failure(_ what: String) -> MappedFileError {
            MappedFileError(path: path, reason: "\(what) (\(String(cString: strerror(errno))))")
        }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure("cannot open it") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw failure("cannot read its size") }
        let size = Int(status.st_size)
        guard size > 0 else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let address = mmap(nil, size, PROT_READ, MAP_SHARED, descriptor, 0), address != MAP_FAILED else {
            throw failure("cannot map it")
        }
        bytes = UnsafeRawBufferPointer(start: address, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}

/// Why a file could not be mapped.
public struct MappedFileError: Error, Equatable, CustomStringConvertible {
    public var path: String
    public var reason: String

    public var description: String { "cannot read \(path): \(reason)" }
}

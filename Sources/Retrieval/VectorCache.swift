import Foundation
import Queue
import Search
import Synchronization

/// Stored vectors kept between searches, so a long-running process (the server) reads the store once and
/// then only what workers stored since, by image id. Segments are never changed once built: a search holds
/// the ones it was given while a refresh appends new ones, and no search pays for copying another's.
final class VectorCache: Sendable {
    /// Which vectors: one model's, those after `after` (nil: all; an index's key: what came after the index).
    struct Key: Hashable {
        var modelID: String
        var after: Int64?
    }

    private struct Entry {
        var segments: [VectorMatrix] = []
        var last: Int64?
        var count = 0
    }

    private let entries = Mutex<[Key: Entry]>([:])
    /// Past this many segments they are merged into one (a copy made once, outside the lock).
    static let maxSegments = 16

    /// The vectors of `key`, normalised, in segments: what was cached plus what the store holds beyond it.
    /// `storedNow` (the store's count for the model, read after the new vectors) tells a purge apart: cached
    /// and new vectors that outnumber it include purged ones, and the entry is read again from the start.
    /// (Workers storing meanwhile only make the count larger, so they never cause a reread.)
    func vectors(
        _ key: Key, store: any ResultStore, dimensions: Int?, storedNow: (() async throws -> Int)? = nil
    ) async throws -> [VectorMatrix] {
        var entry = entries.withLock { $0[key] } ?? Entry()
        let tail = try await StoredVectors.matrix(store, modelID: key.modelID, after: entry.last ?? key.after, dimensions: dimensions)
        if tail.count > 0 {
            entry.segments.append(tail)
            entry.count += tail.count
            entry.last = tail.ids.last
        }
        if let storedNow, key.after == nil, entry.count > (try await storedNow()) {
            // Embeddings were purged (or the store replaced): start again.
            entries.withLock { $0[key] = nil }
            let all = try await StoredVectors.matrix(store, modelID: key.modelID, after: nil, dimensions: dimensions)
            entry = Entry(segments: all.count > 0 ? [all] : [], last: all.ids.last, count: all.count)
        }
        // What was cached was read with no question of length: a query of another length must not reach it.
        if let dimensions, let other = entry.segments.first(where: { $0.count > 0 && $0.dimensions != dimensions }) {
            throw RetrievalError.dimensionMismatch(query: dimensions, stored: other.dimensions)
        }
        if entry.segments.count > Self.maxSegments { entry.segments = [Self.merged(entry.segments)] }
        let kept = entry
        entries.withLock { entries in
            // A concurrent refresh may have got further; keep whichever saw more.
            if let other = entries[key], (other.last ?? .min) > (kept.last ?? .min) { return }
            entries[key] = kept
        }
        return entry.segments
    }

    private static func merged(_ segments: [VectorMatrix]) -> VectorMatrix {
        VectorMatrix(
            dimensions: segments[0].dimensions, ids: segments.flatMap(\.ids), values: segments.flatMap(\.values))
    }
}

/// The index file, mapped and validated once, until the file on disk changes (an `index build` or
/// `index update` renames a new one into place).
final class IndexCache: Sendable {
    private struct Identity: Equatable {
        var device: UInt64
        var inode: UInt64
        var modified: Double
        var size: Int64
    }

    private let cached = Mutex<(identity: Identity, index: HNSWIndex, header: HNSWIndex.FileHeader)?>(nil)

    /// The index at `url`, read again only when the file there is another one; nil when there is none.
    /// (Mapping the file at every search, even for its header, cost a TLB shootdown on every core at unmap.)
    func index(at url: URL) throws -> (index: HNSWIndex, header: HNSWIndex.FileHeader)? {
        var status = stat()
        guard stat(url.path, &status) == 0 else { return nil }
        let identity = Identity(
            device: UInt64(status.st_dev), inode: UInt64(status.st_ino),
            modified: Double(status.st_mtim.tv_sec) + Double(status.st_mtim.tv_nsec) / 1e9, size: Int64(status.st_size))
        if let hit = cached.withLock({ $0 }), hit.identity == identity { return (hit.index, hit.header) }
        let index: HNSWIndex, header: HNSWIndex.FileHeader
        do {
            (index, header) = try HNSWIndex.read(from: url)
        } catch HNSWFileError.notAnIndex, HNSWFileError.version {
            return nil  // another program's file, or an older format: searches scan until the index is rebuilt
        }
        cached.withLock { $0 = (identity, index, header) }
        return (index, header)
    }
}

import Foundation
import Synchronization

/// A new empty directory under the system's temporary directory, removed when the test process exits:
/// suites make one per test, and the ones left behind by every run piled up by the thousand.
public func makeScratchDirectory(_ prefix: String = "xceptor-test") throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    scratchDirectories.withLock { made in
        if made.isEmpty {
            atexit { for directory in scratchDirectories.withLock({ $0 }) { try? FileManager.default.removeItem(at: directory) } }
        }
        made.append(directory)
    }
    return directory
}

private let scratchDirectories = Mutex<[URL]>([])

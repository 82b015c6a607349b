import Foundation
import Synchronization

/// Bytes a worker may give to image bodies and decodes, handed out before the work starts: a reservation
/// that does not fit waits (first come, first served, so a large one is not starved by small ones), and
/// one larger than the whole pool runs when it has the pool to itself. Nothing is refused or dropped.
///
/// The worker keeps two of these, so that no job waits while holding what another waits for: bodies (a
/// job holds one from before its fetch until it ends) and decodes (held only while one runs, which always
/// ends).
final class MemoryPool: Sendable {
    let capacity: Int
    private let state = Mutex<(used: Int, waiters: [(bytes: Int, continuation: CheckedContinuation<Void, Never>)])>((0, []))

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Waits until `bytes` fit, then takes them.
    func reserve(_ bytes: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = state.withLock { state -> Bool in
                guard state.waiters.isEmpty, fits(bytes, used: state.used) else {
                    state.waiters.append((bytes, continuation))
                    return false
                }
                state.used += bytes
                return true
            }
            if granted { continuation.resume() }
        }
    }

    /// Gives `bytes` back and lets the waiters that now fit go, in order.
    func release(_ bytes: Int) {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.used -= bytes
            var woken: [CheckedContinuation<Void, Never>] = []
            while let first = state.waiters.first, fits(first.bytes, used: state.used) {
                state.used += first.bytes
                woken.append(first.continuation)
                state.waiters.removeFirst()
            }
            return woken
        }
        for continuation in woken { continuation.resume() }
    }

    var used: Int { state.withLock { $0.used } }

    private func fits(_ bytes: Int, used: Int) -> Bool { used == 0 || used + bytes <= capacity }
}

/// How the worker's memory budget is split, and what each image costs.
public struct MemoryBudget: Sendable, Equatable {
    /// The whole process: model, engine and everything in flight.
    public var totalBytes: Int

    public init(totalBytes: Int) {
        self.totalBytes = totalBytes
    }

    /// Four fifths of the cgroup's memory limit when one is set below the machine's memory (a systemd unit
    /// with MemoryMax, a container's limit: memory set aside for this service), else half the machine's.
    public static var machineDefault: MemoryBudget {
        let physical = physicalMemory
        if let limit = cgroupLimit, limit < physical { return MemoryBudget(totalBytes: max(512 << 20, limit / 5 * 4)) }
        return MemoryBudget(totalBytes: max(512 << 20, physical / 2))
    }

    static var physicalMemory: Int { Int(clamping: ProcessInfo.processInfo.physicalMemory) }

    /// cgroup v2's memory.max for this process, when it sets one.
    static var cgroupLimit: Int? {
        guard let membership = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8),
            let line = membership.split(separator: "\n").first(where: { $0.hasPrefix("0::") })
        else { return nil }
        let path = "/sys/fs/cgroup" + line.dropFirst(3) + "/memory.max"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))  // "max" reads as nil
    }

    /// Memory the process uses now (resident set), from /proc.
    public static var residentBytes: Int {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
            let pages = statm.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// The most memory this program has held (VmHWM in /proc: since its exec, unlike getrusage's maximum,
    /// which keeps the parent's size at the fork).
    public static var peakResidentBytes: Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kib = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap({ Int($0) })
        else { return 0 }
        return kib * 1024
    }

    /// Left for work once `baseline` (the loaded model and engine) and room for the engine's batches and
    /// the runtime are set aside, halved between bodies and decodes.
    public func pools(baseline: Int, engineRoom: Int) -> (bodies: Int, decodes: Int)? {
        let left = totalBytes - baseline - engineRoom
        guard left >= Self.minimumWorkingBytes else { return nil }
        return (left / 2, left - left / 2)
    }

    /// Less than this after the model is not worth running: one large decode would not fit.
    static let minimumWorkingBytes = 128 << 20

    /// What decoding an image of `width` x `height` may hold at its peak: the decoded pixels, a rotated
    /// copy (EXIF orientation), a progressive JPEG's coefficients, 16-bit or alpha PNG rows, an animated
    /// WebP's two RGBA canvases (8 bytes a pixel, then 3 for the result), and the resize's planes.
    /// Deliberately generous: it is a bound, not an estimate.
    static func decodeBytes(width: Int, height: Int) -> Int {
        let pixels = width.multipliedReportingOverflow(by: height)
        guard !pixels.overflow else { return .max / 2 }
        return min(.max / 2, pixels.partialValue.multipliedReportingOverflow(by: 12).partialValue + (1 << 20))
    }
}

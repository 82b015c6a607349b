import Queue
import Synchronization

/// The leases this worker holds: heartbeats extend them, and on shutdown whatever is still here (claimed
/// but not written) is released back to the queue.
final class LeaseRegistry: Sendable {
    private let leases = Mutex<[JobID: JobLease]>([:])

    func add(_ lease: JobLease) { leases.withLock { $0[lease.jobID] = lease } }

    func remove<S: Sequence<JobLease>>(_ removed: S) {
        leases.withLock { held in
            // Only the exact lease: a job re-claimed under a newer attempt is not this one.
            for lease in removed where held[lease.jobID] == lease { held[lease.jobID] = nil }
        }
    }

    var all: [JobLease] { leases.withLock { Array($0.values) } }
}

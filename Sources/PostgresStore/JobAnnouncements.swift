import Foundation
import Logging
import PostgresNIO
import Queue
import Synchronization

/// Wakes the tasks waiting for new jobs when PostgreSQL announces them: enqueue's trigger notifies the
/// channel `xceptor_jobs`, and one connection of the pool listens on it for as long as anyone waits.
final class JobAnnouncements: Sendable {
    static let channel = "xceptor_jobs"

    private struct State {
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextID = 0
        var listener: Task<Void, Never>?
    }

    private let state = Mutex(State())
    private let client: PostgresClient
    private let logger: Logger

    init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    deinit { state.withLock { $0.listener?.cancel() } }

    /// Waits for the next announcement, or until cancelled.
    func next() async {
        startListening()
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                // Registered under the lock that cancellation takes too: a wait cancelled before it was
                // registered returns at once instead of waiting forever.
                let cancelled = state.withLock { state in
                    if Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if cancelled { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// Wakes every waiter.
    func announce() {
        let waiters = state.withLock { state in
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Listens on a connection of its own, and again on a new one when that one is lost; after a reconnect
    /// it wakes everyone, since announcements sent meanwhile were missed.
    private func startListening() {
        state.withLock { state in
            guard state.listener == nil else { return }
            state.listener = Task { [client, logger, weak self] in
                var reconnected = false
                while !Task.isCancelled {
                    do {
                        try await client.withConnection { connection in
                            try await connection.listen(on: Self.channel) { notifications in
                                if reconnected { self?.announce() }
                                for try await _ in notifications { self?.announce() }
                            }
                        }
                    } catch {
                        if Task.isCancelled { break }
                        logger.debug("listening for new jobs failed; listening again", metadata: ["error": "\(error)"])
                    }
                    reconnected = true
                    self?.announce()
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
    }
}

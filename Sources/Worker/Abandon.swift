import Synchronization

/// Awaits `operation`, but stops waiting as soon as the calling task is cancelled (throwing
/// `CancellationError`); the operation runs on in an unstructured task and its result is dropped.
///
/// For calls that cannot be cancelled themselves (a libcurl transfer, an image in the engine's batch), so a
/// shutdown past its grace period is not held up by them. The job they belonged to is released.
func abandoningOnCancel<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let waiter = Mutex<CheckedContinuation<T, Error>?>(nil)
    let take: @Sendable () -> CheckedContinuation<T, Error>? = {
        waiter.withLock { slot -> CheckedContinuation<T, Error>? in
            defer { slot = nil }
            return slot
        }
    }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            waiter.withLock { $0 = continuation }
            // Cancelled before the continuation was in place: the handler found nothing to resume.
            if Task.isCancelled {
                take()?.resume(throwing: CancellationError())
                return
            }
            Task {
                do {
                    let value = try await operation()
                    take()?.resume(returning: value)
                } catch {
                    take()?.resume(throwing: error)
                }
            }
        }
    } onCancel: {
        take()?.resume(throwing: CancellationError())
    }
}

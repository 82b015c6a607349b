import Queue
import Testing

@Suite("Retry policy")
struct RetryPolicyTests {
    let policy = RetryPolicy(baseDelaySeconds: 30, multiplier: 2, maxDelaySeconds: 3600, jitterFraction: 0.2, maxRetryAfterSeconds: 7200)

    @Test(
        "the delay doubles per failed attempt and is capped",
        arguments: [(1, 30.0), (2, 60.0), (3, 120.0), (7, 1920.0), (8, 3600.0), (30, 3600.0)])
    func exponential(failedAttempts: Int, expected: Double) {
        #expect(policy.delaySeconds(afterFailedAttempts: failedAttempts, unitRandom: 0.5) == expected)
    }

    @Test("jitter spreads the delay over ±20%")
    func jitterBand() {
        #expect(policy.delaySeconds(afterFailedAttempts: 2, unitRandom: 0) == 48)
        #expect(abs(policy.delaySeconds(afterFailedAttempts: 2, unitRandom: 0.99999) - 72) < 0.01)
        #expect(policy.delaySeconds(afterFailedAttempts: 8, unitRandom: 0) == 2880)
    }

    @Test("Retry-After wins when longer, up to its cap")
    func retryAfter() {
        #expect(policy.delaySeconds(afterFailedAttempts: 1, retryAfterSeconds: 5, unitRandom: 0.5) == 30)
        #expect(policy.delaySeconds(afterFailedAttempts: 1, retryAfterSeconds: 500, unitRandom: 0.5) == 500)
        #expect(policy.delaySeconds(afterFailedAttempts: 1, retryAfterSeconds: 100_000, unitRandom: 0.5) == 7200)
    }
}

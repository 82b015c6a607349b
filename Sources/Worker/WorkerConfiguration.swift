import Foundation
import Queue

/// How one worker process runs. Every stage is bounded by one of these numbers.
public struct WorkerConfiguration: Sendable {
    /// The lease owner name: unique per process (default: host name and process id).
    public var owner: String
    /// The model's input size in pixels.
    public var inputSize: Int
    /// Jobs claimed per claim transaction.
    public var claimBatch = 32
    /// Jobs between claim and store at once: fetching, decoding, waiting for or in inference, or waiting to
    /// be written. Bounds memory (each holds at most one fetched body and one decoded input).
    public var maxJobsInFlight = 96
    /// How long a claimed job stays leased without a heartbeat; heartbeats come every third of it.
    public var leaseSeconds = QueueDefaults.leaseSeconds
    /// Exit once nothing is queued, waiting for a retry or running.
    public var untilEmpty = false
    /// After a stop signal: how long jobs in flight may take to finish before the rest are released.
    public var gracePeriodSeconds = 30.0
    /// How often an idle worker looks for new jobs.
    public var idlePollSeconds = 0.5
    /// Threads decoding and resizing images (default: the cores).
    public var decodeThreads = ProcessInfo.processInfo.activeProcessorCount
    /// Finished jobs written per store transaction, and the longest a finished job waits to be written.
    public var writeBatch = 64
    public var writeIntervalSeconds = 0.25
    /// Let large JPEGs shrink while decoding (Pillow's draft mode): several times less decode work, at the
    /// price of inputs slightly off the reference pipeline (embedding cosine to Keras >= 0.988 on the samples
    /// instead of 0.99999). Off by default: results then equal `embed` and Keras.
    public var dctDownscale = false
    /// Bytes fetched bodies may hold at once (each reserves the largest body before its fetch, and keeps
    /// its real size until the job ends), and bytes decodes may hold (each reserves a bound from the image's
    /// header before it starts). Set from the memory budget; unlimited by default.
    public var bodyMemoryBytes = Int.max / 4
    public var decodeMemoryBytes = Int.max / 4
    /// Longest side of the stored thumbnail, in pixels.
    public var thumbnailSide = 128
    /// Labels stored per job, best first.
    public var topLabels = 5

    public init(owner: String = WorkerConfiguration.defaultOwner, inputSize: Int) {
        self.owner = owner
        self.inputSize = inputSize
    }

    public static var defaultOwner: String {
        "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
    }
}

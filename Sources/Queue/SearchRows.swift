/// Every stored embedding of one model, ready for search: normalised rows in one contiguous block.
public struct SearchVectors: Sendable {
    public var imageIDs: [Int64] = []
    /// The best label of each image (parallel to `imageIDs`), for filtering by label.
    public var topLabels: [String?] = []
    public var dimensions = 0
    /// `imageIDs.count` rows of `dimensions` floats, each of unit length.
    public var values: [Float] = []

    public init() {}
}

/// What a person reading a search result wants to know about an image.
public struct ImageSummary: Sendable, Equatable {
    /// The first job that stored this image, and its URL.
    public var jobID: JobID
    public var url: String
    /// Best first.
    public var labels: [ScoredLabel]

    public init(jobID: JobID, url: String, labels: [ScoredLabel]) {
        self.jobID = jobID
        self.url = url
        self.labels = labels
    }
}

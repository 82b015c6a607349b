import ArgumentParser

@main
struct Xceptor: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "xceptor",
        abstract: "Turn lists of image URLs into searchable Xception embeddings.",
        discussion: """
            Jobs (one image URL each) live in a queue: a SQLite file by default (--db or XCEPTOR_DB).
            Add URLs with 'enqueue', watch them with 'status' and 'jobs', and measure with 'bench'.
            """,
        version: version,
        subcommands: [EnqueueCommand.self, StatusCommand.self, JobsCommand.self, BenchCommand.self]
    )
}

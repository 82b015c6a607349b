import CVectorKernels
import Foundation

/// Hierarchical navigable small-world graph (Malkov & Yashunin, 2018) over unit vectors: approximate
/// nearest neighbours by cosine in roughly logarithmic time. Each vector gets a random top level; a search
/// walks greedily down the sparse upper levels, then explores `efSearch` candidates on the dense bottom one.
/// Neighbours are chosen with the paper's heuristic (a candidate is kept only if it is closer to the new
/// node than to every neighbour kept so far), which keeps clustered data navigable.
///
/// A class: `add` must not run at the same time as anything else on the index; searches may run together.
public final class HNSWIndex: @unchecked Sendable {
    public struct Parameters: Sendable, Equatable {
        /// Links per node on the upper levels (twice as many on the bottom level).
        public var m: Int
        /// Candidates explored while inserting: higher builds slower and finds better neighbours.
        public var efConstruction: Int

        public init(m: Int = 16, efConstruction: Int = 200) {
            precondition(m >= 2 && m <= 127 && efConstruction >= 1)
            self.m = m
            self.efConstruction = efConstruction
        }
    }

    public let parameters: Parameters
    public let dimensions: Int
    /// Ids and unit vectors, in insertion order (node n is row n).
    public internal(set) var ids: [Int64] = []
    var values: [Float] = []
    /// Each node's top level.
    var levels: [UInt8] = []
    /// Bottom-level links: `2m` slots per node, `bottomCounts[node]` of them used.
    var bottomLinks: [Int32] = []
    var bottomCounts: [UInt8] = []
    /// Upper-level links of the few nodes that have upper levels: [level - 1] -> neighbours.
    var upperLinks: [Int32: [[Int32]]] = [:]
    var entryPoint: Int32 = -1
    private var random: SplitMix64

    public var count: Int { ids.count }
    var bottomCapacity: Int { 2 * parameters.m }

    public init(dimensions: Int, parameters: Parameters = Parameters(), seed: UInt64 = 0x5EED) {
        precondition(dimensions > 0)
        self.parameters = parameters
        self.dimensions = dimensions
        random = SplitMix64(seed: seed)
    }

    /// Adds a vector (normalised here) under `id`.
    public func add(id: Int64, vector: [Float]) {
        precondition(vector.count == dimensions, "a vector of \(vector.count) values in an index of \(dimensions)")
        ids.append(id)
        values += VectorMatrix.normalized(vector)
        values.withUnsafeBufferPointer { insert(Int32(ids.count - 1), base: $0.baseAddress!) }
    }

    private func insert(_ node: Int32, base: UnsafePointer<Float>) {
        // Level l with probability (1/m)^l: -ln(U) / ln(m), as the paper sets mL = 1/ln(m).
        let uniform = Double(random.next() >> 11) / Double(1 << 53)
        let level = min(Int(-log(max(uniform, 1e-300)) / log(Double(parameters.m))), 30)
        levels.append(UInt8(level))
        bottomLinks += [Int32](repeating: 0, count: bottomCapacity)
        bottomCounts.append(0)
        if level > 0 { upperLinks[node] = Array(repeating: [], count: level) }

        guard entryPoint >= 0 else {
            entryPoint = node
            return
        }
        let query = row(node, base)
        var entry = entryPoint
        let top = Int(levels[Int(entryPoint)])
        var visited = VisitedSet(count: count)
        for layer in stride(from: top, to: level, by: -1) {
            entry = greedyClosest(query, from: entry, layer: layer, base: base)
        }
        var entries = [Candidate(distance: distance(query, entry, base), node: entry)]
        for layer in stride(from: min(top, level), through: 0, by: -1) {
            let found = searchLayer(query, entries: entries, ef: parameters.efConstruction, layer: layer, visited: &visited, base: base)
            let chosen = selectNeighbours(found, max: parameters.m, base: base)
            setLinks(node, layer: layer, chosen.map(\.node))
            for neighbour in chosen { link(neighbour.node, to: node, layer: layer, base: base) }
            entries = found
        }
        if level > top { entryPoint = node }
    }

    /// The `k` nearest stored vectors to `query` (cosine, best first), exploring `ef` candidates.
    public func search(_ query: [Float], k: Int, ef: Int) -> [Neighbor] {
        guard entryPoint >= 0, k > 0 else { return [] }
        precondition(query.count == dimensions, "a query of \(query.count) values against an index of \(dimensions)")
        let unit = VectorMatrix.normalized(query)
        return values.withUnsafeBufferPointer { all in
            unit.withUnsafeBufferPointer { query in
                let base = all.baseAddress!, query = query.baseAddress!
                var entry = entryPoint
                for layer in stride(from: Int(levels[Int(entryPoint)]), to: 0, by: -1) {
                    entry = greedyClosest(query, from: entry, layer: layer, base: base)
                }
                var visited = VisitedSet(count: count)
                let found = searchLayer(query, entries: [Candidate(distance: distance(query, entry, base), node: entry)],
                                        ef: max(ef, k), layer: 0, visited: &visited, base: base)
                return found.prefix(k).map { Neighbor(id: ids[Int($0.node)], score: 1 - $0.distance) }
            }
        }
    }

    // MARK: Graph

    struct Candidate: Comparable {
        var distance: Float
        var node: Int32
        static func < (a: Candidate, b: Candidate) -> Bool { a.distance < b.distance || (a.distance == b.distance && a.node < b.node) }
    }

    func neighbours(of node: Int32, layer: Int) -> ArraySlice<Int32> {
        if layer == 0 {
            let start = Int(node) * bottomCapacity
            return bottomLinks[start..<start + Int(bottomCounts[Int(node)])]
        }
        return upperLinks[node]![layer - 1][...]
    }

    private func setLinks(_ node: Int32, layer: Int, _ links: [Int32]) {
        if layer == 0 {
            let start = Int(node) * bottomCapacity
            for (index, link) in links.enumerated() { bottomLinks[start + index] = link }
            bottomCounts[Int(node)] = UInt8(links.count)
        } else {
            upperLinks[node]![layer - 1] = links
        }
    }

    /// Adds `node` to `neighbour`'s links, pruning them with the heuristic when over capacity.
    private func link(_ neighbour: Int32, to node: Int32, layer: Int, base: UnsafePointer<Float>) {
        let capacity = layer == 0 ? bottomCapacity : parameters.m
        var links = Array(neighbours(of: neighbour, layer: layer))
        links.append(node)
        if links.count > capacity {
            let centre = row(neighbour, base)
            let candidates = links.map { Candidate(distance: distance(centre, $0, base), node: $0) }.sorted()
            links = selectNeighbours(candidates, max: capacity, base: base).map(\.node)
        }
        setLinks(neighbour, layer: layer, links)
    }

    /// The paper's heuristic over candidates sorted nearest first.
    private func selectNeighbours(_ candidates: [Candidate], max: Int, base: UnsafePointer<Float>) -> [Candidate] {
        var chosen: [Candidate] = []
        for candidate in candidates {
            guard chosen.count < max else { break }
            let vector = row(candidate.node, base)
            if chosen.allSatisfy({ distance(vector, $0.node, base) > candidate.distance }) { chosen.append(candidate) }
        }
        return chosen
    }

    private func greedyClosest(_ query: UnsafePointer<Float>, from start: Int32, layer: Int, base: UnsafePointer<Float>) -> Int32 {
        var current = start
        var best = distance(query, start, base)
        var improved = true
        while improved {
            improved = false
            for neighbour in neighbours(of: current, layer: layer) {
                let d = distance(query, neighbour, base)
                if d < best {
                    best = d
                    current = neighbour
                    improved = true
                }
            }
        }
        return current
    }

    /// Best-first search on one layer; returns up to `ef` nodes, nearest first.
    private func searchLayer(_ query: UnsafePointer<Float>, entries: [Candidate], ef: Int, layer: Int,
                             visited: inout VisitedSet, base: UnsafePointer<Float>) -> [Candidate] {
        visited.clear()
        var frontier = Heap<Candidate>(nearestFirst: true)
        var results = Heap<Candidate>(nearestFirst: false)
        for entry in entries {
            visited.insert(entry.node)
            frontier.push(entry)
            results.push(entry)
            if results.count > ef { results.pop() }
        }
        while let nearest = frontier.pop() {
            if results.count >= ef, let worst = results.top, nearest.distance > worst.distance { break }
            let links = neighbours(of: nearest.node, layer: layer)
            // Start fetching every neighbour's vector before the distances need them.
            for neighbour in links { xceptor_prefetch(row(neighbour, base)) }
            for neighbour in links where visited.insert(neighbour) {
                let d = distance(query, neighbour, base)
                if results.count < ef || d < results.top!.distance {
                    let candidate = Candidate(distance: d, node: neighbour)
                    frontier.push(candidate)
                    results.push(candidate)
                    if results.count > ef { results.pop() }
                }
            }
        }
        return results.elements.sorted()
    }

    // MARK: Distances

    /// Row `node` of the vectors starting at `base` (a pointer valid for the whole add or search).
    @inline(__always)
    func row(_ node: Int32, _ base: UnsafePointer<Float>) -> UnsafePointer<Float> {
        base + Int(node) * dimensions
    }

    /// 1 - cosine: the rows are unit length.
    @inline(__always)
    func distance(_ query: UnsafePointer<Float>, _ node: Int32, _ base: UnsafePointer<Float>) -> Float {
        1 - Dot.product(query, row(node, base), dimensions)
    }
}

/// The C kernel: AVX2+FMA where the CPU has them.
enum Dot {
    @inline(__always)
    static func product(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
        xceptor_dot(a, b, count)
    }
}

/// Which nodes a search has seen, cleared in O(1) by bumping a generation.
struct VisitedSet {
    private var marks: [UInt32]
    private var generation: UInt32 = 1

    init(count: Int) { marks = [UInt32](repeating: 0, count: count) }

    mutating func clear() {
        generation &+= 1
        if generation == 0 {
            marks = [UInt32](repeating: 0, count: marks.count)
            generation = 1
        }
    }

    /// Marks `node`; false if it was already marked.
    @discardableResult
    mutating func insert(_ node: Int32) -> Bool {
        if marks[Int(node)] == generation { return false }
        marks[Int(node)] = generation
        return true
    }
}

/// A binary heap: nearest first (the frontier) or farthest first (the results, to drop the worst).
struct Heap<Element: Comparable> {
    private(set) var elements: [Element] = []
    let nearestFirst: Bool

    init(nearestFirst: Bool) { self.nearestFirst = nearestFirst }

    var count: Int { elements.count }
    var top: Element? { elements.first }

    private func above(_ a: Element, _ b: Element) -> Bool { nearestFirst ? a < b : b < a }

    mutating func push(_ element: Element) {
        elements.append(element)
        var child = elements.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard above(elements[child], elements[parent]) else { break }
            elements.swapAt(child, parent)
            child = parent
        }
    }

    @discardableResult
    mutating func pop() -> Element? {
        guard !elements.isEmpty else { return nil }
        elements.swapAt(0, elements.count - 1)
        let popped = elements.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var first = parent
            if left < elements.count, above(elements[left], elements[first]) { first = left }
            if right < elements.count, above(elements[right], elements[first]) { first = right }
            if first == parent { break }
            elements.swapAt(parent, first)
            parent = first
        }
        return popped
    }
}

/// A small seeded generator, so an index built twice from the same vectors is the same index.
struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension HNSWIndex {
    /// The index and the vectors stored after it was last brought up to date (`tail`), searched together so
    /// a result written a moment ago is already findable.
    public func search(_ query: [Float], k: Int, ef: Int, tail: VectorMatrix) throws -> [Neighbor] {
        var best = TopK(k: k)
        for neighbor in search(query, k: k, ef: ef) { best.offer(neighbor) }
        for neighbor in try ExactSearch.search(tail, query: query, k: k) { best.offer(neighbor) }
        return best.sorted()
    }
}

import CVectorKernels
import FileMapping
import Foundation
import Synchronization

/// Hierarchical navigable small-world graph (Malkov & Yashunin, 2018) over unit vectors: approximate
/// nearest neighbours by cosine in roughly logarithmic time. Each vector gets a random top level; a search
/// walks greedily down the sparse upper levels, then explores `efSearch` candidates on the dense bottom one.
/// Neighbours are chosen with the paper's heuristic (a candidate is kept only if it is closer to the new
/// node than to every neighbour kept so far), which keeps clustered data navigable.
///
/// Insertions run on several threads: each node's links sit behind its own one-byte lock, and a node above
/// the current top level holds the entry-point lock while it goes in (as hnswlib does). A class: `add` must
/// not run at the same time as a search; searches may run together.
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
    /// Ids, in insertion order (node n is row n).
    public internal(set) var ids: [Int64] = []
    /// Unit vectors, `dimensions` per node.
    let values = NodeStorage<Float>()
    /// Each node's top level.
    var levels: [UInt8] = []
    /// Bottom-level links: `2m` slots per node, `bottomCounts[node]` of them used.
    let bottomLinks = NodeStorage<Int32>()
    let bottomCounts = NodeStorage<UInt8>()
    /// Upper-level links of the few nodes that have upper levels: from `upperStart[node]` (-1: none), one run
    /// of 1 + m slots per level (the count, then the links), level 1 first.
    let upperSlots = NodeStorage<Int32>()
    var upperStart: [Int] = []
    /// One lock per node, held while its links are read or changed during insertions.
    let locks = NodeStorage<UInt8>()
    /// Held to read or move the entry point, and for the whole insertion of a node that becomes it.
    private let entryLock = NSLock()
    var entryPoint: Int32 = -1
    private var random: SplitMix64
    /// Workspaces of finished searches, for the next ones.
    private let spareWorkspaces = Mutex<[Workspace]>([])

    public var count: Int { ids.count }
    var bottomCapacity: Int { 2 * parameters.m }
    var upperRun: Int { parameters.m + 1 }

    public init(dimensions: Int, parameters: Parameters = Parameters(), seed: UInt64 = 0x5EED) {
        precondition(dimensions > 0)
        self.parameters = parameters
        self.dimensions = dimensions
        random = SplitMix64(seed: seed)
    }

    /// Adds a vector (normalised here) under `id`.
    public func add(id: Int64, vector: [Float]) {
        vector.withUnsafeBufferPointer { add(ids: [id], vectors: $0, threads: 1) }
    }

    /// Adds `ids.count` vectors, row after row in `vectors` (normalised here), inserting them on `threads`
    /// threads. Levels are drawn in row order, so the levels do not depend on the thread count; the links do.
    public func add(
        ids newIDs: [Int64], vectors: UnsafeBufferPointer<Float>,
        threads: Int = ProcessInfo.processInfo.activeProcessorCount
    ) {
        precondition(
            vectors.count == newIDs.count * dimensions,
            "\(newIDs.count) vectors of \(dimensions) values need \(newIDs.count * dimensions), got \(vectors.count)")
        guard !newIDs.isEmpty else { return }
        // Links of nodes read from a file are relinked below: they must be writable first.
        bottomLinks.own()
        bottomCounts.own()
        upperSlots.own()
        let first = count
        for (row, id) in newIDs.enumerated() {
            let level = drawLevel()
            let slice = UnsafeBufferPointer(rebasing: vectors[row * dimensions..<(row + 1) * dimensions])
            appendNode(id: id, vector: VectorMatrix.normalized(Array(slice)), level: level)
        }
        // Everything is allocated now: the threads below only read and relink.
        var pending = first..<count
        if entryPoint < 0, let seed = pending.first {
            entryPoint = Int32(seed)
            pending = pending.dropFirst()
        }
        let nodes = pending
        guard !nodes.isEmpty else { return }
        let workers = max(1, min(threads, nodes.count / 64))
        if workers == 1 {
            let workspace = Workspace(nodes: count, linkCapacity: bottomCapacity + 1)
            for node in nodes { insert(Int32(node), workspace) }
        } else {
            let next = Atomic(nodes.lowerBound)
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                let workspace = Workspace(nodes: count, linkCapacity: bottomCapacity + 1)
                while true {
                    let node = next.add(1, ordering: .relaxed).oldValue
                    guard node < nodes.upperBound else { break }
                    insert(Int32(node), workspace)
                }
            }
        }
        linkUnreachable()
    }

    /// Pruning can drop every bottom-level link into a node (a few in ten thousand on clustered data, as in
    /// hnswlib and FAISS), and then no search ever finds it. Each such node is linked from its nearest
    /// reachable node that has room (else in place of that node's farthest link); up to four passes, as a
    /// replaced link can strand another node.
    private func linkUnreachable() {
        let base = UnsafePointer(values.pointer)
        let workspace = Workspace(nodes: count, linkCapacity: bottomCapacity + 1)
        for _ in 0..<4 {
            let unreached = unreachableNodes(workspace)
            guard !unreached.isEmpty else { return }
            for node in unreached {
                let query = row(node, base)
                var entry = entryPoint
                for layer in stride(from: Int(levels[Int(entryPoint)]), to: 0, by: -1) {
                    entry = greedyClosest(query, from: entry, layer: layer, base: base, workspace)
                }
                let found = searchLayer(
                    query, entries: [Candidate(distance: distance(query, entry, base), node: entry)],
                    ef: parameters.efConstruction, layer: 0, base: base, workspace
                ).filter { $0.node != node }
                guard let host = found.first(where: { Int(bottomCounts.pointer[Int($0.node)]) < bottomCapacity }) ?? found.first else {
                    continue
                }
                let (slots, count) = linkSlots(host.node, layer: 0)
                let links = UnsafeMutableBufferPointer(start: slots, count: count)
                guard !links.contains(node) else { continue }
                if count < bottomCapacity {
                    slots[count] = node
                    bottomCounts.pointer[Int(host.node)] += 1
                } else {
                    var scores = [Float](repeating: 0, count: count)
                    xceptor_dot_rows(row(host.node, base), base, slots, count, dimensions, &scores)
                    links[scores.indices.min { scores[$0] < scores[$1] }!] = node
                }
            }
        }
    }

    /// The nodes a walk of the bottom layer from the entry point never reaches.
    private func unreachableNodes(_ workspace: Workspace) -> [Int32] {
        guard entryPoint >= 0 else { return [] }
        workspace.visited.clear()
        workspace.visited.insert(entryPoint)
        var pending = [entryPoint]
        while let node = pending.popLast() {
            let (slots, count) = linkSlots(node, layer: 0)
            for link in UnsafeBufferPointer(start: slots, count: count) where workspace.visited.insert(link) { pending.append(link) }
        }
        return (0..<Int32(count)).filter { workspace.visited.insert($0) }
    }

    /// Level l with probability (1/m)^l: -ln(U) / ln(m), as the paper sets mL = 1/ln(m).
    private func drawLevel() -> Int {
        let uniform = Double(random.next() >> 11) / Double(1 << 53)
        return min(Int(-log(max(uniform, 1e-300)) / log(Double(parameters.m))), 30)
    }

    /// Storage for one node, with no links yet (also used when an index is read back).
    func appendNode(id: Int64, vector: [Float], level: Int) {
        ids.append(id)
        values.append(contentsOf: vector)
        levels.append(UInt8(level))
        bottomLinks.append(repeating: 0, count: bottomCapacity)
        bottomCounts.append(repeating: 0, count: 1)
        locks.append(repeating: 0, count: 1)
        if level > 0 {
            upperStart.append(upperSlots.count)
            for _ in 0..<level {
                upperSlots.append(repeating: 0, count: 1)
                upperSlots.append(repeating: -1, count: parameters.m)
            }
        } else {
            upperStart.append(-1)
        }
    }

    private func insert(_ node: Int32, _ workspace: Workspace) {
        let level = Int(levels[Int(node)])
        entryLock.lock()
        var entry = entryPoint
        let top = Int(levels[Int(entry)])
        let becomesEntry = level > top
        if !becomesEntry { entryLock.unlock() }
        defer {
            if becomesEntry {
                entryPoint = node
                entryLock.unlock()
            }
        }
        let base = UnsafePointer(values.pointer)
        let query = row(node, base)
        for layer in stride(from: top, to: level, by: -1) {
            entry = greedyClosest(query, from: entry, layer: layer, base: base, workspace)
        }
        var entries = [Candidate(distance: distance(query, entry, base), node: entry)]
        for layer in stride(from: min(top, level), through: 0, by: -1) {
            // A node that other threads already linked to can meet itself here.
            let found = searchLayer(query, entries: entries, ef: parameters.efConstruction, layer: layer, base: base, workspace)
                .filter { $0.node != node }
            guard !found.isEmpty else { continue }
            let chosen = selectNeighbours(found, max: parameters.m, base: base)
            setOwnLinks(node, layer: layer, chosen, base: base)
            for neighbour in chosen { link(neighbour.node, to: node, layer: layer, base: base) }
            entries = found
        }
    }

    /// The `k` nearest stored vectors to `query` (cosine, best first), exploring `ef` candidates. With
    /// `accept`, only ids it accepts are returned: the others still lead the walk (a filter must not cut the
    /// graph), but the walk goes on until it holds `ef` accepted candidates, so a filter that few vectors pass
    /// costs more distance computations, not results.
    public func search(_ query: [Float], k: Int, ef: Int, accept: (@Sendable (Int64) -> Bool)? = nil) -> [Neighbor] {
        guard entryPoint >= 0, k > 0 else { return [] }
        precondition(query.count == dimensions, "a query of \(query.count) values against an index of \(dimensions)")
        let unit = VectorMatrix.normalized(query)
        let workspace = takeWorkspace()
        defer { spareWorkspaces.withLock { $0.append(workspace) } }
        let base = UnsafePointer(values.pointer)
        let acceptNode: ((Int32) -> Bool)? = accept.map { accept in { [ids] node in accept(ids[Int(node)]) } }
        return unit.withUnsafeBufferPointer { query in
            let query = query.baseAddress!
            var entry = entryPoint
            for layer in stride(from: Int(levels[Int(entryPoint)]), to: 0, by: -1) {
                entry = greedyClosest(query, from: entry, layer: layer, base: base, workspace)
            }
            let found = searchLayer(
                query, entries: [Candidate(distance: distance(query, entry, base), node: entry)],
                ef: max(ef, k), layer: 0, base: base, workspace, accept: acceptNode)
            return found.prefix(k).map { Neighbor(id: ids[Int($0.node)], score: 1 - $0.distance) }
        }
    }

    /// A spare workspace sized for the index as it is, or a new one: a search must not pay for zeroing a
    /// visited mark per node (400 KB at 100k nodes) every time.
    private func takeWorkspace() -> Workspace {
        while let spare = spareWorkspaces.withLock({ $0.popLast() }) {
            if spare.visited.count == count { return spare }
        }
        return Workspace(nodes: count, linkCapacity: bottomCapacity + 1)
    }

    // MARK: Graph

    struct Candidate: Comparable {
        var distance: Float
        var node: Int32
        static func < (a: Candidate, b: Candidate) -> Bool { a.distance < b.distance || (a.distance == b.distance && a.node < b.node) }
    }

    /// Per-thread scratch: which nodes a search has seen, and room to copy one node's links out of its lock.
    final class Workspace: @unchecked Sendable {  // used by one search or one insertion thread at a time
        var visited: VisitedSet
        let links: UnsafeMutablePointer<Int32>
        let scores: UnsafeMutablePointer<Float>

        init(nodes: Int, linkCapacity: Int) {
            visited = VisitedSet(count: nodes)
            links = .allocate(capacity: linkCapacity)
            scores = .allocate(capacity: linkCapacity)
        }

        deinit {
            links.deallocate()
            scores.deallocate()
        }
    }

    @inline(__always)
    private func withLock<R>(_ node: Int32, _ body: () -> R) -> R {
        xceptor_spin_lock(locks.pointer + Int(node))
        defer { xceptor_spin_unlock(locks.pointer + Int(node)) }
        return body()
    }

    /// Where `node`'s links on `layer` live, and how many there are; read or change them under its lock.
    @inline(__always)
    func linkSlots(_ node: Int32, layer: Int) -> (links: UnsafeMutablePointer<Int32>, count: Int) {
        if layer == 0 {
            return (bottomLinks.pointer + Int(node) * bottomCapacity, Int(bottomCounts.pointer[Int(node)]))
        }
        let run = upperSlots.pointer + upperStart[Int(node)] + (layer - 1) * upperRun
        return (run + 1, Int(run.pointee))
    }

    /// `node`'s links on `layer`, copied into the workspace under its lock.
    @inline(__always)
    private func copyLinks(_ node: Int32, layer: Int, _ workspace: Workspace) -> UnsafeBufferPointer<Int32> {
        withLock(node) {
            let (links, count) = linkSlots(node, layer: layer)
            workspace.links.update(from: links, count: count)
            return UnsafeBufferPointer(start: workspace.links, count: count)
        }
    }

    private func setLinks(_ node: Int32, layer: Int, _ links: [Int32]) {
        let (slots, _) = linkSlots(node, layer: layer)
        links.withUnsafeBufferPointer { slots.update(from: $0.baseAddress!, count: links.count) }
        if layer == 0 {
            bottomCounts.pointer[Int(node)] = UInt8(links.count)
        } else {
            (slots - 1).pointee = Int32(links.count)
        }
    }

    /// Gives a node being inserted its chosen links. Another thread may already have linked to it on this
    /// layer (it found the node through a layer above); those links are kept, pruned with the rest if too many,
    /// or that thread's new node could be left with no way in.
    private func setOwnLinks(_ node: Int32, layer: Int, _ chosen: [Candidate], base: UnsafePointer<Float>) {
        withLock(node) {
            let (slots, count) = linkSlots(node, layer: layer)
            guard count > 0 else { return setLinks(node, layer: layer, chosen.map(\.node)) }
            let chosenNodes = Set(chosen.map(\.node))
            let added = UnsafeBufferPointer(start: slots, count: count).filter { !chosenNodes.contains($0) && $0 != node }
            var scores = [Float](repeating: 0, count: added.count)
            xceptor_dot_rows(row(node, base), base, added, added.count, dimensions, &scores)
            let merged = (chosen + zip(added, scores).map { Candidate(distance: 1 - $1, node: $0) }).sorted()
            let capacity = layer == 0 ? bottomCapacity : parameters.m
            setLinks(
                node, layer: layer, (merged.count > capacity ? selectNeighbours(merged, max: capacity, base: base) : merged).map(\.node))
        }
    }

    /// Adds `node` to `neighbour`'s links, pruning them with the heuristic when over capacity.
    private func link(_ neighbour: Int32, to node: Int32, layer: Int, base: UnsafePointer<Float>) {
        let capacity = layer == 0 ? bottomCapacity : parameters.m
        withLock(neighbour) {
            let (slots, count) = linkSlots(neighbour, layer: layer)
            // Already there if `neighbour`, inserted alongside, chose `node` itself.
            guard !UnsafeBufferPointer(start: slots, count: count).contains(node) else { return }
            if count < capacity {
                slots[count] = node
                if layer == 0 { bottomCounts.pointer[Int(neighbour)] += 1 } else { (slots - 1).pointee += 1 }
                return
            }
            let links = Array(UnsafeBufferPointer(start: slots, count: count)) + [node]
            var scores = [Float](repeating: 0, count: links.count)
            xceptor_dot_rows(row(neighbour, base), base, links, links.count, dimensions, &scores)
            let candidates = zip(links, scores).map { Candidate(distance: 1 - $1, node: $0) }.sorted()
            setLinks(neighbour, layer: layer, selectNeighbours(candidates, max: capacity, base: base).map(\.node))
        }
    }

    /// The paper's heuristic over candidates sorted nearest first.
    private func selectNeighbours(_ candidates: [Candidate], max: Int, base: UnsafePointer<Float>) -> [Candidate] {
        var chosen: [Candidate] = [], chosenNodes: [Int32] = [], scores = [Float](repeating: 0, count: max)
        for candidate in candidates {
            guard chosen.count < max else { break }
            xceptor_dot_rows(row(candidate.node, base), base, chosenNodes, chosenNodes.count, dimensions, &scores)
            if scores.prefix(chosenNodes.count).allSatisfy({ 1 - $0 > candidate.distance }) {
                chosen.append(candidate)
                chosenNodes.append(candidate.node)
            }
        }
        return chosen
    }

    private func greedyClosest(
        _ query: UnsafePointer<Float>, from start: Int32, layer: Int, base: UnsafePointer<Float>,
        _ workspace: Workspace
    ) -> Int32 {
        var current = start
        var best = distance(query, start, base)
        var improved = true
        while improved {
            improved = false
            for neighbour in copyLinks(current, layer: layer, workspace) {
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

    /// Best-first search on one layer; returns up to `ef` nodes, nearest first. Nodes `accept` refuses are
    /// walked through but never returned.
    private func searchLayer(
        _ query: UnsafePointer<Float>, entries: [Candidate], ef: Int, layer: Int,
        base: UnsafePointer<Float>, _ workspace: Workspace, accept: ((Int32) -> Bool)? = nil
    ) -> [Candidate] {
        workspace.visited.clear()
        var frontier = Heap<Candidate>(nearestFirst: true)
        var results = Heap<Candidate>(nearestFirst: false)
        for entry in entries {
            workspace.visited.insert(entry.node)
            frontier.push(entry)
            if accept?(entry.node) ?? true {
                results.push(entry)
                if results.count > ef { results.pop() }
            }
        }
        while let nearest = frontier.pop() {
            if results.count >= ef, let worst = results.top, nearest.distance > worst.distance { break }
            // The neighbours not seen yet, compacted in place, then scored together.
            let links = copyLinks(nearest.node, layer: layer, workspace)
            var fresh = 0
            for neighbour in links where workspace.visited.insert(neighbour) {
                workspace.links[fresh] = neighbour
                fresh += 1
            }
            xceptor_dot_rows(query, base, workspace.links, fresh, dimensions, workspace.scores)
            for position in 0..<fresh {
                let neighbour = workspace.links[position], d = 1 - workspace.scores[position]
                if results.count < ef || d < results.top!.distance {
                    let candidate = Candidate(distance: d, node: neighbour)
                    frontier.push(candidate)
                    if accept?(neighbour) ?? true {
                        results.push(candidate)
                        if results.count > ef { results.pop() }
                    }
                }
            }
        }
        return results.elements.sorted()
    }

    // MARK: Distances

    /// Row `node` of the vectors starting at `base`.
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

/// A growable block of plain values with a pointer that stays put between appends, so threads can read and
/// write distinct elements (a Swift array would copy on write and check exclusivity). Grow it only while no
/// other thread uses it.
final class NodeStorage<Element: BitwiseCopyable>: @unchecked Sendable {
    private(set) var pointer: UnsafeMutablePointer<Element>
    private(set) var count = 0
    private var capacity = 0
    /// The mapped file `pointer` points into (read-only), or nil when the storage owns its memory.
    private var mapping: MappedFile?

    init() { pointer = .allocate(capacity: 0) }

    deinit {
        if mapping == nil { pointer.deallocate() }
    }

    /// Uses `values` in place, inside `owner`'s read-only mapping, until `own` or an append copies them.
    func useMapped(_ values: UnsafeBufferPointer<Element>, owner: MappedFile) {
        precondition(count == 0 && mapping == nil, "map only into an empty storage")
        guard let start = values.baseAddress else { return }
        pointer.deallocate()
        pointer = UnsafeMutablePointer(mutating: start)
        count = values.count
        capacity = values.count
        mapping = owner
    }

    var buffer: UnsafeBufferPointer<Element> { UnsafeBufferPointer(start: pointer, count: count) }

    /// Copies mapped values into owned memory, so they can be changed.
    func own() {
        if mapping != nil { reserve(capacity - count + 1) }
    }

    private func reserve(_ extra: Int) {
        guard count + extra > capacity else { return }
        let grown = max(count + extra, capacity * 2, 64)
        let moved = UnsafeMutablePointer<Element>.allocate(capacity: grown)
        if mapping == nil {
            moved.moveInitialize(from: pointer, count: count)
            pointer.deallocate()
        } else {
            moved.initialize(from: pointer, count: count)
            mapping = nil
        }
        pointer = moved
        capacity = grown
    }

    func append(contentsOf values: some Collection<Element>) {
        reserve(values.count)
        _ = UnsafeMutableBufferPointer(start: pointer + count, count: values.count).initialize(from: values)
        count += values.count
    }

    func append(repeating value: Element, count extra: Int) {
        reserve(extra)
        (pointer + count).initialize(repeating: value, count: extra)
        count += extra
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

    var count: Int { marks.count }

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

extension HNSWIndex {
    /// Every indexed vector scored against `query` (the exact scan, over the index's own copy of the vectors).
    public func exactSearch(_ query: [Float], k: Int, accept: (@Sendable (Int64) -> Bool)? = nil) -> [Neighbor] {
        precondition(query.count == dimensions, "a query of \(query.count) values against an index of \(dimensions)")
        let unit = VectorMatrix.normalized(query), dimensions = dimensions
        nonisolated(unsafe) let base = UnsafePointer(values.pointer)
        return ExactSearch.scanRows(count, ids: ids, k: k, accept: accept) { start, rows, scores in
            xceptor_dot_consecutive(unit, base + start * dimensions, rows, dimensions, scores)
        }
    }

    /// The index and the vectors stored after it was last brought up to date (`tail`), searched together so
    /// a result written a moment ago is already findable.
    public func search(_ query: [Float], k: Int, ef: Int, tail: VectorMatrix, accept: (@Sendable (Int64) -> Bool)? = nil) throws
        -> [Neighbor]
    {
        var best = TopK(k: k)
        for neighbor in search(query, k: k, ef: ef, accept: accept) { best.offer(neighbor) }
        for neighbor in try ExactSearch.search(tail, query: query, k: k, accept: accept) { best.offer(neighbor) }
        return best.sorted()
    }
}

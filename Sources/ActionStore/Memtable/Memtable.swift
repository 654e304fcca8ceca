/// Recent actions of one (application, time partition), in memory until a flush writes them to a
/// segment: a list of sealed column chunks and an open tail chunk.
///
/// A query snapshot takes the list and the tail: O(chunks) reference counts under the store
/// lock, no row copied then. A batch of at least `chunkRows / 2` rows becomes a sealed chunk as
/// it is (after the tail, to keep arrival order); smaller ones are appended to the tail, which is
/// sealed at `chunkRows`. The tail is
/// copy-on-write: the first append after a snapshot took it copies it once (at most `chunkRows`
/// rows), under the lock.
///
/// Not thread-safe: the store guards each memtable with its lock.
struct Memtable: Sendable {
    static let chunkRows = 4096

    let application: String
    let partition: String
    private(set) var sealed: [ColumnChunk] = []
    private(set) var tail = ColumnChunk()
    private(set) var rowCount = 0
    /// Bytes held by the chunks (array capacities), kept up to date by `append`.
    private(set) var memoryBytes = 0
    private var sealedBytes = 0
    /// When the first row arrived (monotonic nanoseconds), for the age threshold.
    private(set) var firstRowAt: UInt64 = 0

    init(application: String, partition: String) {
        self.application = application
        self.partition = partition
    }

    /// Adds the rows of `chunk` (all of this memtable's application and partition).
    /// - Complexity: O(1) for a large chunk; O(rows of `chunk`) for a small one (copied into the
    ///   tail).
    mutating func append(_ chunk: ColumnChunk, now: UInt64) {
        guard !chunk.isEmpty else { return }
        if rowCount == 0 { firstRowAt = now }
        rowCount += chunk.rowCount
        if chunk.rowCount >= Memtable.chunkRows / 2 {
            sealTail()
            seal(chunk)
        } else if !tail.append(contentsOf: chunk) {
            // A path of another kind than in the tail (never for admitted rows): keep both whole.
            sealTail()
            tail = chunk
        }
        if tail.rowCount >= Memtable.chunkRows { sealTail() }
        memoryBytes = sealedBytes + (tail.isEmpty ? 0 : tail.memoryBytes)
    }

    private mutating func seal(_ chunk: ColumnChunk) {
        sealed.append(chunk)
        sealedBytes += chunk.memoryBytes
    }

    private mutating func sealTail() {
        guard !tail.isEmpty else { return }
        seal(tail)
        tail = ColumnChunk()
    }

    /// Every chunk, in arrival order: what a snapshot or a flush takes.
    var chunks: [ColumnChunk] { tail.isEmpty ? sealed : sealed + [tail] }

    /// All rows in one chunk, ordered by time (for the flush; outside the lock).
    func sortedChunk() -> ColumnChunk {
        let all = chunks
        guard all.count > 1 else { return (all.first ?? ColumnChunk()).sortedByTime() }
        var merged = ColumnChunk()
        for c in all where !merged.append(contentsOf: c) {
            // Admitted rows give a path one kind; a chunk that disagrees is kept whole as
            // strings would not be: fall back to the rows (never reached by the store).
            return ColumnChunk.rebuilt(all).sortedByTime()
        }
        return merged.sortedByTime()
    }
}

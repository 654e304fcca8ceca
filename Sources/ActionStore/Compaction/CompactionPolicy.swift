/// Which segments of one partition to merge next: a pure function of the manifest entries.
///
/// A segment is *small* when it is under half the target in both rows and bytes. A job takes the
/// partition's segments smallest first while their sums stay within the targets; it runs when it
/// holds at least two segments and either two of them are small or the partition has more than
/// `segmentsPerPartitionMax` segments. Every job lowers the partition's segment count by at least
/// one, so repeated planning ends; the inputs' rows fit in one output segment, which bounds the
/// memory of a job (decoded rows ≤ `segmentRowsTarget`).
struct CompactionPolicy: Sendable {
    var rowsTarget: Int
    var bytesTarget: Int64
    var segmentsMax: Int

    init(_ o: CompactionOptions) {
        rowsTarget = max(o.segmentRowsTarget, 1)
        bytesTarget = max(o.segmentBytesTarget, 1)
        segmentsMax = max(o.segmentsPerPartitionMax, 1)
    }

    func isSmall(_ e: Manifest.SegmentEntry) -> Bool {
        e.rows * 2 < rowsTarget && e.bytes * 2 < bytesTarget
    }

    /// The segments (a subset of `segments`, in file order) to merge next, or nil.
    func nextJob(_ segments: [Manifest.SegmentEntry]) -> [Manifest.SegmentEntry]? {
        guard segments.count >= 2 else { return nil }
        let bySize = segments.sorted { ($0.rows, $0.bytes, $0.file) < ($1.rows, $1.bytes, $1.file) }
        var taken: [Manifest.SegmentEntry] = []
        var rows = 0
        var bytes: Int64 = 0
        for e in bySize {
            guard rows + e.rows <= rowsTarget, bytes + e.bytes <= bytesTarget else { break }
            taken.append(e)
            rows += e.rows
            bytes += e.bytes
        }
        guard taken.count >= 2 else { return nil }
        guard taken.count(where: isSmall) >= 2 || segments.count > segmentsMax else { return nil }
        return taken.sorted { $0.file < $1.file }
    }

    /// The compaction backlog of a partition: how many of its segments the jobs planned from now
    /// on would merge (simulated on the entries, no I/O), and their bytes.
    func backlog(_ segments: [Manifest.SegmentEntry]) -> (segments: Int, bytes: Int64) {
        var current = segments
        var merged = Set<String>()
        var bytes: Int64 = 0
        var counter = 0
        while let job = nextJob(current) {
            for e in job where !e.file.hasPrefix("~") && merged.insert(e.file).inserted { bytes += e.bytes }
            let files = Set(job.map(\.file))
            current.removeAll { files.contains($0.file) }
            counter += 1
            current.append(
                Manifest.SegmentEntry(
                    file: "~" + String(counter),
                    rows: job.reduce(0) { $0 + $1.rows },
                    bytes: job.reduce(0) { $0 + $1.bytes },
                    minTime: 0,
                    maxTime: 0
                )
            )
        }
        return (merged.count, bytes)
    }
}

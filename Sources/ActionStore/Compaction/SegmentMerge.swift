#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// K-way merge of time-sorted runs (the rows of a partition's segments, each sorted by time).
enum SegmentMerge {
    /// Merges `runs`, each sorted by time, into one run sorted by time. Among equal times, rows
    /// keep the order of their runs, then their order within a run (so the merge is stable and a
    /// re-run gives the same file).
    /// - Complexity: O(n log k) for n rows in k runs.
    static func merge(_ runs: [[Action]]) -> [Action] {
        let total = runs.reduce(0) { $0 + $1.count }
        var out: [Action] = []
        out.reserveCapacity(total)
        // A binary min-heap of (time, run) over the head of each non-empty run.
        var heap: [(time: Int64, run: Int)] = []
        var next = [Int](repeating: 0, count: runs.count)
        func less(_ a: (time: Int64, run: Int), _ b: (time: Int64, run: Int)) -> Bool {
            (a.time, a.run) < (b.time, b.run)
        }
        func siftDown(_ i0: Int) {
            var i = i0
            while true {
                let l = 2 * i + 1
                let r = l + 1
                var m = i
                if l < heap.count && less(heap[l], heap[m]) { m = l }
                if r < heap.count && less(heap[r], heap[m]) { m = r }
                if m == i { return }
                heap.swapAt(i, m)
                i = m
            }
        }
        for (k, run) in runs.enumerated() where !run.isEmpty { heap.append((run[0].time, k)) }
        for i in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(i) }
        while let top = heap.first {
            let k = top.run
            out.append(runs[k][next[k]])
            next[k] += 1
            if next[k] < runs[k].count {
                heap[0] = (runs[k][next[k]].time, k)
            } else {
                heap[0] = heap[heap.count - 1]
                heap.removeLast()
            }
            if !heap.isEmpty { siftDown(0) }
        }
        return out
    }
}

/// Limits compaction I/O to a rate: after each chunk of work, sleeps until the bytes done so far
/// fit the budget since the start. Coarse (whole segments), which is enough to leave disk time to
/// flushes and queries.
struct IORateLimiter {
    let bytesPerSecond: Int?
    let start = ContinuousClock.now
    var bytes: Int64 = 0

    init(bytesPerSecond: Int?) {
        self.bytesPerSecond = bytesPerSecond.flatMap { $0 > 0 ? $0 : nil }
    }

    mutating func consume(_ n: Int64) {
        bytes += n
        guard let rate = bytesPerSecond else { return }
        let due = start + .seconds(Double(bytes) / Double(rate))
        let now = ContinuousClock.now
        if due > now {
            let wait = due - now
            let (s, atto) = wait.components
            var ts = timespec(tv_sec: Int(s), tv_nsec: Int(atto / 1_000_000_000))
            nanosleep(&ts, nil)
        }
    }
}

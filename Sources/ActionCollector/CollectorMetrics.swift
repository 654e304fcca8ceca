import ActionStore
import Synchronization

/// The collector's counters, rendered with the store's figures in Prometheus' text format
/// (version 0.0.4) by `GET /metrics`.
///
/// Hand-written rather than swift-metrics + swift-prometheus: `MetricsSystem.bootstrap` is global
/// and once per process, while tests run many collectors in one process, each of which must count
/// on its own; and half the figures (journal, memtables, segments) are read from `Store.stats()`
/// at scrape time, which fits a render function better than push-style gauges. The text format is
/// a few lines per family.
final class CollectorMetrics: Sendable {
    /// Latency histogram buckets, in seconds.
    static let buckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    struct Histogram: Sendable {
        var counts = [UInt64](repeating: 0, count: CollectorMetrics.buckets.count)
        var count: UInt64 = 0
        var sum: Double = 0

        mutating func observe(_ d: Duration) {
            let s = Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
            count += 1
            sum += s
            for (i, b) in CollectorMetrics.buckets.enumerated() where s <= b { counts[i] += 1 }
        }
    }

    struct RequestKey: Hashable, Sendable {
        var route: String
        var status: Int
    }

    struct Counters: Sendable {
        var accepted: UInt64 = 0
        var duplicates: UInt64 = 0
        var rejected: [String: UInt64] = [:]
        var requests: [RequestKey: UInt64] = [:]
        var ingestLatency = Histogram()
        var queryLatency = Histogram()
    }

    // Guarded by counters.
    private let counters = Mutex(Counters())

    func record(_ result: AppendResult) {
        counters.withLock { c in
            for o in result.outcomes {
                switch o {
                case .accepted: c.accepted += 1
                case .duplicate: c.duplicates += 1
                case .rejected(let e): c.rejected[e.code.rawValue, default: 0] += 1
                }
            }
        }
    }

    func request(route: String, status: Int) {
        counters.withLock { $0.requests[RequestKey(route: route, status: status), default: 0] += 1 }
    }

    func ingest(_ d: Duration) { counters.withLock { $0.ingestLatency.observe(d) } }
    func query(_ d: Duration) { counters.withLock { $0.queryLatency.observe(d) } }

    var snapshot: Counters { counters.withLock { $0 } }

    /// The text exposition: the collector's counters, `inFlight`, and the store's `stats`.
    func render(stats: StoreStats, inFlight: IngestLimiter.Counts) -> String {
        let c = snapshot
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        func sample(_ name: String, _ labels: [(String, String)] = [], _ value: some CustomStringConvertible) {
            out += name
            if !labels.isEmpty {
                out += "{" + labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",") + "}"
            }
            out += " \(value)\n"
        }
        func histogram(_ name: String, _ help: String, _ h: Histogram) {
            family(name, "histogram", help)
            for (i, b) in Self.buckets.enumerated() { sample(name + "_bucket", [("le", "\(b)")], h.counts[i]) }
            sample(name + "_bucket", [("le", "+Inf")], h.count)
            sample(name + "_sum", [], h.sum)
            sample(name + "_count", [], h.count)
        }

        family("actionstore_actions_accepted_total", "counter", "Actions stored.")
        sample("actionstore_actions_accepted_total", [], c.accepted)
        family("actionstore_actions_duplicate_total", "counter", "Actions acknowledged as already stored.")
        sample("actionstore_actions_duplicate_total", [], c.duplicates)
        family("actionstore_actions_rejected_total", "counter", "Actions rejected, by error code.")
        for (code, n) in c.rejected.sorted(by: { $0.key < $1.key }) {
            sample("actionstore_actions_rejected_total", [("reason", code)], n)
        }
        family("actionstore_http_requests_total", "counter", "HTTP requests answered, by route and status.")
        for (k, n) in c.requests.sorted(by: { ($0.key.route, $0.key.status) < ($1.key.route, $1.key.status) }) {
            sample("actionstore_http_requests_total", [("route", k.route), ("status", "\(k.status)")], n)
        }
        family("actionstore_ingest_in_flight_requests", "gauge", "Ingest requests being handled.")
        sample("actionstore_ingest_in_flight_requests", [], inFlight.requests)
        family("actionstore_ingest_in_flight_bytes", "gauge", "Body bytes held by ingest requests.")
        sample("actionstore_ingest_in_flight_bytes", [], inFlight.bytes)
        histogram(
            "actionstore_ingest_duration_seconds",
            "Time from request to acknowledgement of stored ingest requests (durable).",
            c.ingestLatency
        )
        histogram("actionstore_query_duration_seconds", "Time to run a query.", c.queryLatency)

        let j = stats.journal
        family("actionstore_journal_fsyncs_total", "counter", "Journal file syncs.")
        sample("actionstore_journal_fsyncs_total", [], j.fsyncs)
        family("actionstore_journal_last_fsync_seconds", "gauge", "Duration of the most recent journal sync.")
        let l = j.lastFsyncLatency.components
        sample("actionstore_journal_last_fsync_seconds", [], Double(l.seconds) + Double(l.attoseconds) * 1e-18)
        family("actionstore_journal_records_total", "counter", "Journal records written.")
        sample("actionstore_journal_records_total", [], j.records)
        family("actionstore_journal_bytes_total", "counter", "Journal bytes written.")
        sample("actionstore_journal_bytes_total", [], j.bytes)
        family("actionstore_journal_files", "gauge", "Journal files on disk.")
        sample("actionstore_journal_files", [], stats.journalFiles)
        family("actionstore_memtables", "gauge", "Partitions with rows in memory.")
        sample("actionstore_memtables", [], stats.partitions.count { $0.memtableRows > 0 })
        family("actionstore_memtable_rows", "gauge", "Rows in memory (journaled, not yet in segments).")
        sample("actionstore_memtable_rows", [], stats.partitions.reduce(0) { $0 + $1.memtableRows })
        family("actionstore_segments", "gauge", "Segment files.")
        sample("actionstore_segments", [], stats.segments)
        family("actionstore_segment_bytes", "gauge", "Bytes in segment files.")
        sample("actionstore_segment_bytes", [], stats.segmentBytes)
        family("actionstore_rows", "gauge", "Rows stored, segments and memory.")
        sample("actionstore_rows", [], stats.rows)
        family("actionstore_applications", "gauge", "Applications with stored actions.")
        sample("actionstore_applications", [], stats.applications.count)
        family("actionstore_background_error", "gauge", "1 when a background failure stopped writes.")
        sample("actionstore_background_error", [], stats.backgroundError == nil ? 0 : 1)
        family("actionstore_compaction_error", "gauge", "1 when a failure stopped compaction (writes go on).")
        sample("actionstore_compaction_error", [], stats.compactionError == nil ? 0 : 1)
        family("actionstore_compactions_total", "counter", "Merge jobs completed since open.")
        sample("actionstore_compactions_total", [], stats.compactions)
        return out
    }

    /// Label value escaping of the text format: backslash, double quote and newline.
    static func escape(_ s: String) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(ch)
            }
        }
        return out
    }
}

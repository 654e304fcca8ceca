import Synchronization
import Testing

@testable import ActionStore

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Journal benchmarks. They print figures and assert only correctness.
///
/// Small sizes by default (a smoke test); full sizes with `JOURNAL_BENCH=1`:
///
///     JOURNAL_BENCH=1 swift test -c release --filter JournalBench
///
/// - codec: encode and decode MB/s of a 1000-action batch.
/// - appends: enqueue + waitDurable with fsyncEachBatch, batches of 1/100/1000 actions, 1/4/16
///   threads, about 1.5 s each; then a raw write + fdatasync baseline on one thread.
/// - replay: a 256 MiB journal read back raw and with batch decoding.
@Suite(.serialized) struct JournalBenchTests {
    static let full = getenv("JOURNAL_BENCH") != nil

    static func batchPayload(actions: Int, base: Int = 0) -> [UInt8] {
        BatchCodec.encode(
            JournalBatch(application: "bench", actions: (0..<actions).map { sampleAction(base + $0) })
        )
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    @Test func codecThroughput() throws {
        let batch = JournalBatch(application: "bench", actions: (0..<1000).map(sampleAction))
        let rounds = Self.full ? 200 : 5
        let clock = ContinuousClock()
        var bytes: [UInt8] = []
        var checksum = 0
        let encode = clock.measure {
            for _ in 0..<rounds {
                bytes = BatchCodec.encode(batch)
                checksum &+= bytes.count
            }
        }
        var decoded = batch
        let decode = try clock.measure {
            for _ in 0..<rounds { decoded = try BatchCodec.decode(bytes) }
        }
        #expect(decoded == batch)
        let mb = Double(bytes.count * rounds) / 1e6
        print(
            "codec: batch of 1000 actions = \(bytes.count) bytes (\(bytes.count / 1000) B/action); "
                + "encode \(Int(mb / Self.seconds(encode))) MB/s, decode \(Int(mb / Self.seconds(decode))) MB/s "
                + "(checksum \(checksum))"
        )
    }

    @Test func appendThroughput() throws {
        let dir = TempDir("bench")
        defer { dir.remove() }
        let runFor: Duration = Self.full ? .milliseconds(1500) : .milliseconds(100)
        var lines: [String] = []
        for actions in [1, 100, 1000] {
            let payload = Self.batchPayload(actions: actions)
            for threads in [1, 4, 16] {
                let writer = try JournalWriter(directory: dir.path)
                let appends = Locked(0)
                let errors = Locked(0)
                let clock = ContinuousClock()
                let start = clock.now
                onThreads(threads) { _ in
                    var n = 0
                    while clock.now - start < runFor {
                        do {
                            try writer.waitDurable(writer.enqueue(payload, type: .batch))
                            n += 1
                        } catch {
                            errors.withLock { $0 += 1 }
                            return
                        }
                    }
                    appends.withLock { $0 += n }
                }
                let elapsed = Self.seconds(clock.now - start)
                let stats = writer.stats
                try writer.close()
                let count = appends.withLock { $0 }
                #expect(errors.withLock { $0 } == 0)
                #expect(stats.records == UInt64(count))
                let (records, _) = try replayAll(dir)
                #expect(records.count == count)
                lines.append(
                    "actions/batch \(actions), threads \(threads): \(Int(Double(count) / elapsed)) appends/s, "
                        + "\(Int(Double(count * actions) / elapsed)) actions/s, "
                        + "\(Int(Double(stats.fsyncs) / elapsed)) fsyncs/s, "
                        + "\(String(format2(Double(count) / Double(max(stats.fsyncs, 1))))) appends/fsync, "
                        + "\(Int(Double(stats.bytes) / elapsed / 1e6)) MB/s, "
                        + "last fsync \(stats.lastFsyncLatency)"
                )
                for n in try StoreFiles.journalNumbers(in: dir.path) { unlink(dir.file(n)) }
            }
        }
        // Raw-I/O baseline: one thread, write(2) + fdatasync(2) per payload, no journal.
        for actions in [1, 1000] {
            let payload = Self.batchPayload(actions: actions)
            let path = dir.path + "/baseline"
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            let clock = ContinuousClock()
            let start = clock.now
            var n = 0
            while clock.now - start < runFor {
                let w = payload.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                #expect(w == payload.count)
                #expect(fdatasync(fd) == 0)
                n += 1
            }
            let elapsed = Self.seconds(clock.now - start)
            close(fd)
            unlink(path)
            lines.append("baseline write+fdatasync, \(actions) actions/write: \(Int(Double(n) / elapsed)) writes/s")
        }
        print("appends (fsyncEachBatch):\n  " + lines.joined(separator: "\n  "))
    }

    @Test func replayThroughput() throws {
        let dir = TempDir("bench")
        defer { dir.remove() }
        let targetBytes = Self.full ? 256 << 20 : 8 << 20
        var config = JournalWriter.Configuration()
        config.durability = .none
        let writer = try JournalWriter(directory: dir.path, configuration: config)
        let payloads = (0..<4).map { Self.batchPayload(actions: 1000, base: $0 * 1000) }
        var written = 0
        var records = 0
        while written < targetBytes {
            let p = payloads[records % payloads.count]
            _ = try writer.enqueue(p, type: .batch)
            written += p.count + JournalFormat.recordHeaderBytes
            records += 1
        }
        try writer.close()
        let files = try StoreFiles.journalNumbers(in: dir.path).count

        let clock = ContinuousClock()
        var checksum: UInt64 = 0
        var result: JournalReader.ReplayResult?
        let raw = try clock.measure {
            result = try JournalReader(directory: dir.path).replay(from: JournalPosition(fileNumber: 1, offset: 0)) {
                _,
                payload,
                _ in
                checksum &+= UInt64(payload.count) &+ UInt64(payload[payload.count / 2])
            }
        }
        #expect(result?.records == records)
        #expect(result?.tornTail == nil)
        var actions = 0
        let decoding = try clock.measure {
            _ = try JournalReader(directory: dir.path).replay(from: JournalPosition(fileNumber: 1, offset: 0)) {
                _,
                payload,
                _ in
                actions += try BatchCodec.decode(payload).actions.count
            }
        }
        #expect(actions == records * 1000)
        let mib = Double(written) / Double(1 << 20)
        print(
            "replay: \(Int(mib)) MiB in \(files) files, \(records) records: raw \(Self.seconds(raw)) s "
                + "(\(Int(mib / Self.seconds(raw))) MiB/s), with decode \(Self.seconds(decoding)) s "
                + "(\(Int(Double(actions) / Self.seconds(decoding))) actions/s) (checksum \(checksum))"
        )
    }
}

private func format2(_ v: Double) -> String {
    let r = (v * 10).rounded() / 10
    return String(r)
}

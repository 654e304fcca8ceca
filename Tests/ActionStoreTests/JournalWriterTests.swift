import Synchronization
import Testing

@testable import ActionStore

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Runs `body(i)` for `i` in `0..<count`, each on its own pthread, and joins them.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var threads: [pthread_t] = []
    for i in 0..<count {
        var t = pthread_t()
        let box = Unmanaged.passRetained(Box { body(i) }).toOpaque()
        let rc = pthread_create(
            &t,
            nil,
            { arg in
                Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue().body()
                return nil
            },
            box
        )
        precondition(rc == 0)
        threads.append(t)
    }
    for t in threads { pthread_join(t, nil) }
}

/// Injected failures for the writer's system calls.
final class Faults: Sendable {
    struct Plan {
        /// errno returned by the next sync, once armed.
        var failSync: Int32?
        /// errno returned by writes after `writeBudget` more bytes have been written.
        var failWrite: Int32?
        var writeBudget = Int.max
        /// Largest byte count one write accepts (short writes).
        var writeMax = Int.max
        var syncDelay: Duration = .zero
        var syncs = 0
        /// errno returned by opens, once armed.
        var failOpen: Int32?
    }

    let plan = Locked(Plan())

    var io: FileIO {
        var io = FileIO.posix
        let base = FileIO.posix
        io.sync = { [self] fd in
            let (fail, delay) = plan.withLock { p -> (Int32?, Duration) in
                p.syncs += 1
                return (p.failSync, p.syncDelay)
            }
            if delay > .zero { usleep(UInt32(delay.components.attoseconds / 1_000_000_000_000)) }
            if let fail { return -fail }
            return base.sync(fd)
        }
        io.open = { [self] path, flags in
            if let fail = plan.withLock({ $0.failOpen }) { return -fail }
            return base.open(path, flags)
        }
        io.write = { [self] fd, bytes in
            let (allowed, fail) = plan.withLock { p -> (Int, Int32?) in
                let n = min(bytes.count, p.writeMax, p.writeBudget)
                p.writeBudget -= n
                return (n, p.failWrite)
            }
            if allowed == 0, let fail { return -Int(fail) }
            return base.write(fd, UnsafeRawBufferPointer(rebasing: bytes[0..<allowed]))
        }
        return io
    }
}

func expectIOError(_ body: () throws -> Void, _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation)
{
    do {
        try body()
        Issue.record("did not throw", sourceLocation: sourceLocation)
    } catch let e as ActionStoreError {
        #expect(e.code == .io, sourceLocation: sourceLocation)
        for f in fragments {
            #expect(e.message.contains(f), "\(e.message) lacks \(f)", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct JournalWriterTests {
    @Test func groupCommitWithManyThreads() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let writer = try JournalWriter(directory: dir.path)
        let threads = 16
        let perThread = 150
        let tickets = Locked<[(thread: Int, i: Int, ticket: JournalWriter.Ticket)]>([])
        let failures = Locked(0)
        onThreads(threads) { t in
            for i in 0..<perThread {
                do {
                    let ticket = try writer.enqueue(
                        [UInt8(t), UInt8(i), UInt8(i >> 8)] + [UInt8](repeating: 7, count: 100),
                        type: .batch
                    )
                    tickets.withLock { $0.append((t, i, ticket)) }
                    try writer.waitDurable(ticket)
                } catch {
                    failures.withLock { $0 += 1 }
                }
            }
        }
        let stats = writer.stats
        try writer.close()
        let total = threads * perThread
        #expect(failures.withLock { $0 } == 0)
        #expect(stats.records == UInt64(total))
        #expect(stats.bytes == UInt64(total * (JournalFormat.recordHeaderBytes + 103)))
        #expect(stats.fsyncs >= 1)
        #expect(stats.fsyncs < UInt64(total), "no group commit: \(stats.fsyncs) syncs for \(total) records")
        print("group commit: \(total) records, \(stats.writes) writes, \(stats.fsyncs) fsyncs")

        // Journal order is sequence order, and each thread's records keep their order.
        let bySequence = tickets.withLock { $0 }.sorted { $0.ticket.sequence < $1.ticket.sequence }
        #expect(bySequence.map(\.ticket.sequence) == Array(1...UInt64(total)))
        let (records, _) = try replayAll(dir)
        #expect(records.map(\.position) == bySequence.map(\.ticket.start))
        #expect(
            records.map { [Int($0.payload[0]), Int($0.payload[1]) | Int($0.payload[2]) << 8] }
                == bySequence.map { [$0.thread, $0.i] }
        )
        for t in 0..<threads {
            let mine = records.filter { $0.payload[0] == UInt8(t) }.map { Int($0.payload[1]) | Int($0.payload[2]) << 8 }
            #expect(mine == Array(0..<perThread))
        }
    }

    @Test func asyncDurableResumesFromTheJournalThread() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let writer = try JournalWriter(directory: dir.path)
        try await withThrowingTaskGroup(of: JournalWriter.Ticket.self) { group in
            for i in 0..<200 {
                group.addTask {
                    let ticket = try writer.enqueue([UInt8(i & 0xFF)], type: .batch)
                    try await writer.durable(ticket)
                    return ticket
                }
            }
            var count = 0
            for try await _ in group { count += 1 }
            #expect(count == 200)
        }
        #expect(writer.stats.records == 200)
        #expect(writer.stats.fsyncs <= 200)
        try writer.close()
        #expect(try replayAll(dir).0.count == 200)
    }

    @Test(arguments: [JournalWriter.DurabilityPolicy.none, .fsyncInterval(milliseconds: 20)])
    func otherPolicies(policy: JournalWriter.DurabilityPolicy) async throws {
        let dir = TempDir()
        defer { dir.remove() }
        var config = JournalWriter.Configuration()
        config.durability = policy
        let writer = try JournalWriter(directory: dir.path, configuration: config)
        let clock = ContinuousClock()
        let start = clock.now
        var last: JournalWriter.Ticket?
        for i in 0..<100 {
            last = try writer.enqueue([UInt8(i)], type: .batch)
        }
        try writer.waitDurable(last!)
        try await writer.durable(last!)
        let waited = clock.now - start
        let stats = writer.stats
        #expect(stats.records == 100)
        switch policy {
        case .none:
            #expect(stats.fsyncs == 0)
        default:
            #expect(stats.fsyncs >= 1 && stats.fsyncs <= 3)
            #expect(waited < .seconds(5))
        }
        try writer.close()
        #expect(try replayAll(dir).0.count == 100)
    }

    @Test func rollFileAndDeleteFiles() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let writer = try JournalWriter(directory: dir.path)
        let a = try writer.enqueue([1], type: .batch)
        let n = try writer.rollFile()
        #expect(n == 2)
        let b = try writer.enqueue([2], type: .batch)
        #expect(b.start == JournalPosition(fileNumber: 2, offset: 32))
        try writer.waitDurable(b)
        #expect(a.start.fileNumber == 1)
        // An empty roll still creates the file promptly.
        #expect(try writer.rollFile() == 3)
        let c = try writer.enqueue([3], type: .batch)
        try writer.waitDurable(c)
        #expect(try StoreFiles.journalNumbers(in: dir.path) == [1, 2, 3])
        // Replay from the roll point sees exactly what followed it.
        #expect(try replayAll(dir, from: JournalPosition(fileNumber: 2, offset: 0)).0.map(\.payload) == [[2], [3]])

        try writer.deleteFiles(before: 3)
        #expect(try StoreFiles.journalNumbers(in: dir.path) == [3])
        try writer.deleteFiles(before: 99)  // never the open file
        #expect(try StoreFiles.journalNumbers(in: dir.path) == [3])
        try writer.close()
        #expect(try replayAll(dir, from: JournalPosition(fileNumber: 3, offset: 0)).0.map(\.payload) == [[3]])
    }

    @Test func reopenContinuesAfterTheEnd() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let first = try writeJournal(dir, [[1], [2], [3]])
        // Garbage after the end, as a crash would leave.
        Bytes.write(dir.file(1), Bytes.read(dir.file(1)) + [9, 9, 9, 9, 9])
        let writer = try JournalWriter(directory: dir.path)
        #expect(writer.tail == first.last!.end)
        let t = try writer.enqueue([4], type: .batch)
        #expect(t.start == first.last!.end)
        try writer.close()
        #expect(try replayAll(dir).0.map(\.payload) == [[1], [2], [3], [4]])
        #expect(try replayAll(dir).1.tornTail == nil)

        var config = JournalWriter.Configuration()
        config.startNewFileOnOpen = true
        let again = try JournalWriter(directory: dir.path, configuration: config)
        #expect(again.tail == JournalPosition(fileNumber: 2, offset: 32))
        _ = try again.enqueue([5], type: .batch)
        try again.close()
        #expect(try replayAll(dir).0.map(\.payload) == [[1], [2], [3], [4], [5]])
    }

    @Test func reopenWithRecoveredEnd() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let first = try writeJournal(dir, [[1], [2], [3]])
        // Recovery decided to keep only two records (e.g. the store replayed with skipDamaged).
        let writer = try JournalWriter(
            directory: dir.path,
            configuration: .init(),
            recoveredEnd: first[1].end
        )
        _ = try writer.enqueue([4], type: .batch)
        try writer.close()
        #expect(try replayAll(dir).0.map(\.payload) == [[1], [2], [4]])

        do {
            _ = try JournalWriter(
                directory: dir.path,
                configuration: .init(),
                recoveredEnd: JournalPosition(fileNumber: 0, offset: 0)
            )
            Issue.record("opened with files past the recovered end")
        } catch let e as ActionStoreError {
            #expect(e.code == .corruption)
            #expect(e.message.contains("lies past the recovered end"))
        }
    }

    @Test func closedAndOversizeEnqueuesThrow() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let writer = try JournalWriter(directory: dir.path)
        #expect(
            throws: ActionStoreError(
                .limitExceeded,
                "journal record of 33554433 bytes exceeds the maximum of 33554432; split the batch"
            )
        ) {
            _ = try writer.enqueue([UInt8](repeating: 0, count: JournalFormat.recordPayloadBytesMax + 1), type: .batch)
        }
        try writer.close()
        try writer.close()
        do {
            _ = try writer.enqueue([1], type: .batch)
            Issue.record("enqueue after close")
        } catch let e as ActionStoreError {
            #expect(e.code == .closed)
        }
    }

    // MARK: Faults

    @Test func fsyncFailureIsSticky() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let faults = Faults()
        let writer = try JournalWriter(directory: dir.path, configuration: .init(), recoveredEnd: nil, io: faults.io)
        let good = try writer.enqueue([1], type: .batch)
        try writer.waitDurable(good)

        faults.plan.withLock { $0.failSync = EIO }
        let bad = try writer.enqueue([2], type: .batch)
        let fragments = ["fsync of \(dir.file(1)) failed", "errno 5"]
        expectIOError({ try writer.waitDurable(bad) }, fragments)
        // Even though syncs would succeed again, nothing later is accepted or made "durable".
        faults.plan.withLock { $0.failSync = nil }
        expectIOError({ _ = try writer.enqueue([3], type: .batch) }, fragments)
        expectIOError({ try writer.waitDurable(bad) }, fragments)
        do {
            try await writer.durable(bad)
            Issue.record("durable after fsync failure")
        } catch let e as ActionStoreError {
            #expect(e.code == .io)
        }
        // What was durable before stays durable.
        try writer.waitDurable(good)
        try await writer.durable(good)
        expectIOError({ try writer.close() }, fragments)
        #expect(writer.stats.records == 2)
    }

    @Test func fsyncFailureFailsEveryWaiterOfTheGroup() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let faults = Faults()
        let writer = try JournalWriter(directory: dir.path, configuration: .init(), recoveredEnd: nil, io: faults.io)
        faults.plan.withLock {
            $0.failSync = EIO
            $0.syncDelay = .milliseconds(30)
        }
        let outcomes = Locked<[String]>([])
        onThreads(8) { t in
            do {
                let ticket = try writer.enqueue([UInt8(t)], type: .batch)
                try writer.waitDurable(ticket)
                outcomes.withLock { $0.append("durable") }
            } catch let e as ActionStoreError {
                outcomes.withLock { $0.append(e.code.rawValue) }
            } catch {
                outcomes.withLock { $0.append("\(error)") }
            }
        }
        #expect(outcomes.withLock { $0 } == Array(repeating: "io", count: 8))
        #expect(throws: ActionStoreError.self) { try writer.close() }
    }

    @Test func enospcAfterAShortWriteIsSticky() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let faults = Faults()
        let writer = try JournalWriter(directory: dir.path, configuration: .init(), recoveredEnd: nil, io: faults.io)
        let good = try writer.enqueue([UInt8](repeating: 1, count: 50), type: .batch)
        try writer.waitDurable(good)
        faults.plan.withLock {
            $0.writeBudget = 20
            $0.failWrite = ENOSPC
        }
        let bad = try writer.enqueue([UInt8](repeating: 2, count: 50), type: .batch)
        let fragments = ["journal write to \(dir.file(1)) failed after 20 of 67 bytes", "errno 28"]
        expectIOError({ try writer.waitDurable(bad) }, fragments)
        expectIOError({ _ = try writer.enqueue([3], type: .batch) }, fragments)
        _ = try? writer.close()
        // On disk: the good record and a torn tail, which recovery cuts.
        let (records, result) = try replayAll(dir)
        #expect(records.map(\.payload) == [[UInt8](repeating: 1, count: 50)])
        #expect(result.tornTail == good.end)
        #expect(result.tornBytes == 20)
    }

    @Test func failureToCreateTheNextFileIsSticky() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let faults = Faults()
        let writer = try JournalWriter(directory: dir.path, configuration: .init(), recoveredEnd: nil, io: faults.io)
        let good = try writer.enqueue([1], type: .batch)
        try writer.waitDurable(good)
        faults.plan.withLock { $0.failOpen = ENOSPC }
        #expect(try writer.rollFile() == 2)
        let fragments = ["cannot create \(dir.file(2))", "errno 28 (No space left on device)"]
        // The journal thread creates file 2 promptly after the roll, so the failure may already be
        // sticky when this enqueue runs (then the enqueue throws it), or come with the wait.
        expectIOError(
            {
                let bad = try writer.enqueue([2], type: .batch)
                try writer.waitDurable(bad)
            },
            fragments
        )
        expectIOError({ _ = try writer.enqueue([3], type: .batch) }, fragments)
        expectIOError({ _ = try writer.rollFile() }, fragments)
        expectIOError({ try writer.close() }, fragments)
        // File 1 was synced before the roll and is intact.
        let (records, result) = try replayAll(dir)
        #expect(records.map(\.payload) == [[1]])
        #expect(result.tornTail == nil)
    }

    @Test func shortWritesAreCompleted() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let faults = Faults()
        let writer = try JournalWriter(directory: dir.path, configuration: .init(), recoveredEnd: nil, io: faults.io)
        faults.plan.withLock { $0.writeMax = 7 }
        var rng = SeededRNG("JournalWriter.shortWrites")
        let payloads = (0..<50).map { _ in rng.bytes(Int.random(in: 0...100, using: &rng)) }
        for p in payloads { _ = try writer.enqueue(p, type: .batch) }
        try writer.close()
        #expect(try replayAll(dir).0.map(\.payload) == payloads)
    }

    /// A file layer that remembers how much of each file was synced; `crashCopy` builds what a
    /// power loss could leave: synced bytes plus a random prefix of the unsynced ones.
    final class SyncTracker: Sendable {
        struct State {
            var paths: [Int32: String] = [:]
            var synced: [String: Int] = [:]
        }
        let state = Locked(State())

        var io: FileIO {
            var io = FileIO.posix
            let base = FileIO.posix
            io.open = { [self] path, flags in
                let fd = base.open(path, flags)
                if fd >= 0 { state.withLock { $0.paths[fd] = path } }
                return fd
            }
            io.sync = { [self] fd in
                let r = base.sync(fd)
                var st = stat()
                fstat(fd, &st)
                state.withLock { s in
                    if r == 0, let path = s.paths[fd] { s.synced[path] = Int(st.st_size) }
                }
                return r
            }
            return io
        }

        func crashCopy(from dir: TempDir, to copy: TempDir, rng: inout SeededRNG) {
            let synced = state.withLock { $0.synced }
            for n in (try? StoreFiles.journalNumbers(in: dir.path)) ?? [] {
                let bytes = Bytes.read(dir.file(n))
                let durable = min(synced[dir.file(n)] ?? 0, bytes.count)
                let extra = Int.random(in: 0...(bytes.count - durable), using: &rng)
                Bytes.write(copy.file(n), Array(bytes[0..<(durable + extra)]))
            }
        }
    }

    @Test func acknowledgedRecordsSurviveASimulatedCrash() throws {
        var rng = SeededRNG("JournalWriter.crash")
        for round in 0..<5 {
            let dir = TempDir()
            let copy = TempDir("crash")
            defer {
                dir.remove()
                copy.remove()
            }
            let tracker = SyncTracker()
            var config = JournalWriter.Configuration()
            config.fileBytesMax = 4096
            let writer = try JournalWriter(
                directory: dir.path,
                configuration: config,
                recoveredEnd: nil,
                io: tracker.io
            )
            let acknowledged = Locked<[[UInt8]]>([])
            let ackedAtCrash = Locked<[[UInt8]]>([])
            let stop = Locked(false)
            let crashAfter = Int.random(in: 20...200, using: &rng)
            let crashSeed = rng.next()
            onThreads(5) { t in
                if t == 4 {
                    // Crash while the writers run: acknowledgements taken first, files after.
                    while acknowledged.withLock({ $0.count }) < crashAfter { usleep(100) }
                    ackedAtCrash.withLock { $0 = acknowledged.withLock { $0 } }
                    var crashRNG = SeededRNG(seed: crashSeed)
                    tracker.crashCopy(from: dir, to: copy, rng: &crashRNG)
                    stop.withLock { $0 = true }
                    return
                }
                var i = 0
                while !stop.withLock({ $0 }) {
                    let payload =
                        [UInt8(t), UInt8(i & 0xFF), UInt8(i >> 8)] + [UInt8](repeating: UInt8(t), count: i % 90)
                    guard let ticket = try? writer.enqueue(payload, type: .batch),
                        (try? writer.waitDurable(ticket)) != nil
                    else { return }
                    acknowledged.withLock { $0.append(payload) }
                    i += 1
                }
            }
            try writer.close()
            let acked = ackedAtCrash.withLock { $0 }
            #expect(acked.count >= crashAfter)

            let (records, result) = try replayAll(copy)
            let replayed = Set(records.map(\.payload))
            let lost = acked.filter { !replayed.contains($0) }
            #expect(lost.isEmpty, "round \(round): \(lost.count) acknowledged records lost, seed \(rng.seed)")
            #expect(result.damagedSkipped == 0)
            // The writer reopens on the crashed copy and continues.
            let reopened = try JournalWriter(directory: copy.path)
            try reopened.waitDurable(reopened.enqueue([42], type: .batch))
            try reopened.close()
            #expect(try replayAll(copy).0.map(\.payload).last == [42])
        }
    }

    @Test func createFailureIsReported() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var io = FileIO.posix
        io.open = { _, _ in -EACCES }
        do {
            _ = try JournalWriter(directory: dir.path, configuration: .init(), recoveredEnd: nil, io: io)
            Issue.record("opened")
        } catch let e as ActionStoreError {
            #expect(e.code == .io)
            #expect(e.message == "cannot create \(dir.file(1)): errno 13 (Permission denied)")
        }
    }
}

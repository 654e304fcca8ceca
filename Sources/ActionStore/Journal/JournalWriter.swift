#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Appends records to the journal with group commit on a dedicated thread.
///
/// Callers frame records with ``enqueue(_:type:)`` (fast, in order, never blocks on I/O) and then
/// wait for durability with ``waitDurable(_:)`` (blocks the thread) or ``durable(_:)`` (suspends
/// the task). The journal thread takes everything pending, writes it with one `write(2)` per file
/// touched, syncs once, and releases every waiter of that group.
///
/// A failed write or sync is sticky: once one fails, every waiter not yet durable and every later
/// ``enqueue(_:type:)`` throws the same `ActionStoreError(.io)`. After a failed fsync the kernel
/// may have dropped the dirty pages and cleared the error, so a retry that "succeeds" proves
/// nothing (the PostgreSQL fsync problem, 2018); only recovery by re-reading the journal is safe.
///
/// Files are `journal-<16 digits>.log` (`StoreFiles.journalFileName`), rolled when the next record would
/// take a file past ``Configuration/fileBytesMax``. Before a new file is created the previous one
/// is synced, whatever the policy, so only the last file can have a torn tail.
public final class JournalWriter: Sendable {
    /// When the journal thread syncs.
    public enum DurabilityPolicy: Sendable, Hashable {
        /// Sync after each group of records written; ``JournalWriter/durable(_:)`` returns once its
        /// record is synced. The default.
        case fsyncEachBatch
        /// Write as records arrive, sync at most every `milliseconds`; a record is durable (and
        /// its waiters released) at the first sync after it was written.
        case fsyncInterval(milliseconds: Int)
        /// Never sync except when rolling a file and on ``JournalWriter/close()``; a record is
        /// "durable" once written to the kernel (it survives a process crash, not a power loss).
        case none
    }

    /// Writer settings.
    public struct Configuration: Sendable, Hashable {
        /// Roll to a new file when the next record would take the current one past this size.
        /// Default 64 MiB. A record larger than this gets a file of its own.
        public var fileBytesMax: Int = 64 << 20
        /// Default ``DurabilityPolicy/fsyncEachBatch``.
        public var durability: DurabilityPolicy = .fsyncEachBatch
        /// On open, start a new file after the recovered end instead of appending to the last
        /// file. Default false.
        public var startNewFileOnOpen: Bool = false

        public init() {}
    }

    /// What ``enqueue(_:type:)`` hands back: the record's place in the journal.
    public struct Ticket: Sendable, Hashable {
        /// Per-writer sequence, from 1, in enqueue order.
        public var sequence: UInt64
        /// Where the record's header starts.
        public var start: JournalPosition
        /// Just past the record's last byte: the next record's start, unless the file rolls.
        public var end: JournalPosition
    }

    /// Counters since open.
    public struct Stats: Sendable, Hashable {
        /// Records written to the file system.
        public var records: UInt64 = 0
        /// Bytes written, record headers included, file headers excluded.
        public var bytes: UInt64 = 0
        /// Groups written (each one or a few `write(2)` calls).
        public var writes: UInt64 = 0
        /// Syncs of journal files (directory syncs excluded).
        public var fsyncs: UInt64 = 0
        /// Duration of the most recent sync.
        public var lastFsyncLatency: Duration = .zero
    }

    private let core: Core

    /// Opens the journal in `directory` (created if missing) for appending.
    ///
    /// - Parameters:
    ///   - recoveredEnd: where the valid journal ends, as ``JournalReader/ReplayResult/validEnd``
    ///     reported after replay. The writer truncates that file there (cutting a torn tail; a
    ///     torn file header is rewritten) and appends after it. When nil, the writer scans the last
    ///     file itself to find its valid end, or creates file 1 in an empty directory.
    /// - Throws: `ActionStoreError(.io)` if a file cannot be opened or truncated;
    ///   `ActionStoreError(.corruption)` when, with `recoveredEnd` nil, the last file is damaged
    ///   before its tail, or files exist past `recoveredEnd`.
    public convenience init(
        directory: String,
        configuration: Configuration = Configuration(),
        recoveredEnd: JournalPosition? = nil
    ) throws {
        try self.init(directory: directory, configuration: configuration, recoveredEnd: recoveredEnd, io: .posix)
    }

    /// ``init(directory:configuration:recoveredEnd:)`` over injectable system calls, for tests.
    package init(
        directory: String,
        configuration: Configuration,
        recoveredEnd: JournalPosition?,
        io: FileIO
    ) throws {
        precondition(configuration.fileBytesMax > JournalFormat.fileHeaderBytes, "fileBytesMax too small")
        if case .fsyncInterval(let ms) = configuration.durability {
            precondition(ms > 0, "fsyncInterval must be positive")
        }
        let opened = try Core.openForAppend(
            directory: directory,
            configuration: configuration,
            recoveredEnd: recoveredEnd,
            io: io
        )
        core = Core(directory: directory, configuration: configuration, io: io, opened: opened)
        core.start()
    }

    deinit {
        core.close()
    }

    /// Frames `payload` as one record and queues it, in call order, for the journal thread.
    ///
    /// Fast and non-blocking: checksums the payload on the calling thread, then copies it into
    /// the pending buffer under the writer's lock. Call it under the store's own lock to keep
    /// journal order equal to commit order.
    /// - Returns: the record's sequence number and position.
    /// - Throws: the sticky `ActionStoreError(.io)` after a failed write or sync;
    ///   `.closed` after ``close()``; `.limitExceeded` for a payload over
    ///   ``JournalFormat/recordPayloadBytesMax``.
    /// - Complexity: O(payload.count).
    public func enqueue(_ payload: [UInt8], type: RecordType) throws -> Ticket {
        try core.enqueue(payload, type: type)
    }

    /// Blocks the calling thread until the ticket's record is durable per the policy.
    /// - Throws: the sticky `ActionStoreError(.io)` if the write or sync of the record failed.
    public func waitDurable(_ ticket: Ticket) throws {
        try core.waitDurable(ticket)
    }

    /// Suspends until the ticket's record is durable per the policy, without blocking a thread
    /// of the cooperative pool: the journal thread resumes the continuation. Not cancellable, as
    /// the record is already on its way.
    /// - Throws: the sticky `ActionStoreError(.io)` if the write or sync of the record failed.
    public func durable(_ ticket: Ticket) async throws {
        try await core.durable(ticket)
    }

    /// Starts a new file for the records enqueued after this call, so that a checkpoint can fall
    /// at a file boundary. The journal thread syncs the old file and creates the new one promptly,
    /// even if no record follows.
    /// - Returns: the new file's number; replay from `JournalPosition(fileNumber: n, offset: 0)`
    ///   reads every record enqueued after this call.
    /// - Throws: the sticky error, or `.closed`.
    @discardableResult
    public func rollFile() throws -> UInt64 {
        try core.rollFile()
    }

    /// Deletes journal files numbered below `fileNumber` (and below the file the journal thread
    /// has open, which is never deleted), then syncs the directory.
    /// - Throws: `ActionStoreError(.io)` naming the file that could not be removed.
    public func deleteFiles(before fileNumber: UInt64) throws {
        try core.deleteFiles(before: fileNumber)
    }

    /// Writes and syncs everything pending, releases all waiters and joins the journal thread.
    /// Later calls do nothing; later enqueues throw `.closed`.
    /// - Throws: the sticky error, if the journal failed.
    public func close() throws {
        core.close()
        if let e = core.stickyError { throw e }
    }

    /// Counters since open.
    public var stats: Stats { core.currentStats }

    /// The sticky error of a failed write or sync, if one happened: from then on nothing is
    /// acknowledged (see the type's documentation).
    public var failure: ActionStoreError? { core.stickyError }

    /// The position the next record will start at (in the file it will go to, unless it rolls).
    public var tail: JournalPosition { core.currentTail }
}

// MARK: - Core

extension JournalWriter {
    /// What opening found: the file to append to.
    struct Opened {
        var fileNumber: UInt64
        var fd: Int32
        var offset: UInt64
    }

    /// A run of framed records bound for one file. An empty one with a new file number asks the
    /// thread to roll.
    struct Chunk {
        var fileNumber: UInt64
        var bytes: [UInt8]
        var records: UInt64 = 0
    }

    /// State shared by callers and the journal thread.
    struct State {
        var chunks: [Chunk] = []
        /// Where the next enqueued record starts.
        var tail: JournalPosition
        var nextSequence: UInt64 = 1
        /// Records up to this sequence are durable per the policy.
        var durableSequence: UInt64 = 0
        var error: ActionStoreError?
        var closing = false
        var threadExited = false
        var threadIdle = false
        /// The file the journal thread has open.
        var openFileNumber: UInt64
        var asyncWaiters: [(sequence: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        var spare: [UInt8] = []
        var stats = Stats()
    }

    // Safe because `state` and `thread` are read and written only with `lock` held, and `fd` and
    // `fileNumber` only by the journal thread once `start()` has run.
    final class Core: @unchecked Sendable {
        // Constant after init.
        let directory: String
        let configuration: Configuration
        let io: FileIO
        let lock = PThreadMutex()
        /// Signalled when work arrives for the journal thread.
        let workArrived = PThreadCondition()
        /// Broadcast when `durableSequence` advances or an error is set.
        let progressed = PThreadCondition()
        private var thread: pthread_t? = nil

        // Guarded by lock.
        private var state: State
        // Owned by the journal thread (set before it starts).
        private var fd: Int32
        private var fileNumber: UInt64

        init(directory: String, configuration: Configuration, io: FileIO, opened: Opened) {
            self.directory = directory
            self.configuration = configuration
            self.io = io
            self.fd = opened.fd
            self.fileNumber = opened.fileNumber
            state = State(
                tail: JournalPosition(fileNumber: opened.fileNumber, offset: opened.offset),
                openFileNumber: opened.fileNumber
            )
        }

        var stickyError: ActionStoreError? { lock.withLock { state.error } }
        var currentStats: Stats { lock.withLock { state.stats } }
        var currentTail: JournalPosition { lock.withLock { state.tail } }

        func start() {
            let box = Unmanaged.passRetained(self).toOpaque()
            var tid = pthread_t()
            let rc = pthread_create(
                &tid,
                nil,
                { arg in
                    let core = Unmanaged<Core>.fromOpaque(arg!).takeRetainedValue()
                    core.run()
                    return nil
                },
                box
            )
            precondition(rc == 0, "cannot start the journal thread: \(errnoText(rc))")
            lock.withLock { thread = tid }
        }

        // MARK: Callers

        func enqueue(_ payload: [UInt8], type: RecordType) throws -> Ticket {
            guard payload.count <= JournalFormat.recordPayloadBytesMax else {
                throw ActionStoreError(
                    .limitExceeded,
                    "journal record of \(payload.count) bytes exceeds the maximum of "
                        + "\(JournalFormat.recordPayloadBytesMax); split the batch"
                )
            }
            let checksum = payload.withUnsafeBytes { JournalFormat.recordChecksum(type: type.rawValue, payload: $0) }
            let recordBytes = UInt64(JournalFormat.recordHeaderBytes + payload.count)
            lock.lock()
            defer { lock.unlock() }
            try checkOpen()
            if state.tail.offset > UInt64(JournalFormat.fileHeaderBytes),
                state.tail.offset + recordBytes > UInt64(configuration.fileBytesMax)
            {
                rollLocked()
            }
            if state.chunks.last?.fileNumber != state.tail.fileNumber {
                state.chunks.append(Chunk(fileNumber: state.tail.fileNumber, bytes: takeSpareLocked()))
            }
            let last = state.chunks.count - 1
            state.chunks[last].bytes.reserveCapacity(state.chunks[last].bytes.count + Int(recordBytes))
            JournalFormat.appendRecordHeader(
                &state.chunks[last].bytes,
                length: payload.count,
                type: type.rawValue,
                checksum: checksum
            )
            state.chunks[last].bytes.append(contentsOf: payload)
            state.chunks[last].records += 1
            let start = state.tail
            state.tail.offset += recordBytes
            let sequence = state.nextSequence
            state.nextSequence += 1
            if state.threadIdle { workArrived.signal() }
            return Ticket(sequence: sequence, start: start, end: state.tail)
        }

        func rollFile() throws -> UInt64 {
            lock.lock()
            defer { lock.unlock() }
            try checkOpen()
            rollLocked()
            if state.threadIdle { workArrived.signal() }
            return state.tail.fileNumber
        }

        private func rollLocked() {
            let next = state.tail.fileNumber + 1
            state.tail = JournalPosition(fileNumber: next, offset: UInt64(JournalFormat.fileHeaderBytes))
            state.chunks.append(Chunk(fileNumber: next, bytes: []))
        }

        private func takeSpareLocked() -> [UInt8] {
            var b: [UInt8] = []
            swap(&b, &state.spare)
            return b
        }

        private func checkOpen() throws {
            if let e = state.error { throw e }
            if state.closing { throw ActionStoreError(.closed, "the journal in \(directory) is closed") }
        }

        func waitDurable(_ ticket: Ticket) throws {
            lock.lock()
            defer { lock.unlock() }
            while true {
                if ticket.sequence <= state.durableSequence { return }
                if let e = state.error { throw e }
                precondition(!state.threadExited, "ticket \(ticket.sequence) was never enqueued on this writer")
                progressed.wait(lock)
            }
        }

        func durable(_ ticket: Ticket) async throws {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome: Result<Void, any Error>? = lock.withLock {
                    if ticket.sequence <= state.durableSequence { return .success(()) }
                    if let e = state.error { return .failure(e) }
                    precondition(!state.threadExited, "ticket \(ticket.sequence) was never enqueued on this writer")
                    state.asyncWaiters.append((ticket.sequence, continuation))
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        }

        func deleteFiles(before fileNumber: UInt64) throws {
            let limit = lock.withLock { min(fileNumber, state.openFileNumber, state.tail.fileNumber) }
            var removed = false
            for n in try StoreFiles.journalNumbers(in: directory) where n < limit {
                let path = StoreFiles.journalFile(directory, n)
                let r = io.unlink(path)
                guard r == 0 else { throw ActionStoreError(.io, "cannot delete \(path): \(errnoText(-r))") }
                removed = true
            }
            if removed {
                let r = io.syncDirectory(directory)
                guard r == 0 else {
                    throw ActionStoreError(.io, "cannot sync directory \(directory): \(errnoText(-r))")
                }
            }
        }

        func close() {
            let toJoin: pthread_t? = lock.withLock {
                state.closing = true
                workArrived.signal()
                defer { thread = nil }
                return thread
            }
            if let toJoin { pthread_join(toJoin, nil) }
        }

        // MARK: Journal thread

        private func run() {
            var unsynced = false  // bytes written since the last sync
            var writtenSequence: UInt64 = 0
            var lastSync = ContinuousClock.now
            let interval: Duration? =
                if case .fsyncInterval(let ms) = configuration.durability { .milliseconds(ms) } else { nil }
            lock.lock()
            while true {
                while state.chunks.isEmpty && !state.closing {
                    if let interval, unsynced {
                        let left = lastSync + interval - .now
                        if left <= .zero { break }
                        state.threadIdle = true
                        workArrived.wait(lock, timeout: left)
                    } else {
                        state.threadIdle = true
                        workArrived.wait(lock)
                    }
                    state.threadIdle = false
                }
                var chunks = state.chunks
                state.chunks = []
                let groupLast = state.nextSequence - 1
                let closing = state.closing
                lock.unlock()

                var failure: ActionStoreError?
                var synced = false
                var stats = Stats()
                do {
                    for chunk in chunks {
                        if chunk.fileNumber != fileNumber {
                            try roll(to: chunk.fileNumber, stats: &stats)
                        }
                        if !chunk.bytes.isEmpty {
                            try writeAll(chunk.bytes)
                            stats.writes += 1
                            stats.bytes += UInt64(chunk.bytes.count)
                            stats.records += chunk.records
                            unsynced = true
                        }
                    }
                    writtenSequence = groupLast
                    let syncNow: Bool =
                        switch configuration.durability {
                        case .fsyncEachBatch: unsynced
                        case .fsyncInterval: unsynced && (closing || ContinuousClock.now - lastSync >= interval!)
                        case .none: unsynced && closing
                        }
                    if syncNow {
                        try sync(stats: &stats)
                        lastSync = .now
                        unsynced = false
                        synced = true
                    }
                } catch let e as ActionStoreError {
                    failure = e
                } catch {
                    failure = ActionStoreError(.io, "journal: \(error)")
                }

                // Keep the largest buffer for the next group: no regrowth on a steady load.
                var recycled: [UInt8] = []
                if !chunks.isEmpty { swap(&recycled, &chunks[chunks.count - 1].bytes) }
                chunks = []
                recycled.removeAll(keepingCapacity: true)

                lock.lock()
                state.stats.records += stats.records
                state.stats.bytes += stats.bytes
                state.stats.writes += stats.writes
                state.stats.fsyncs += stats.fsyncs
                if stats.fsyncs > 0 { state.stats.lastFsyncLatency = stats.lastFsyncLatency }
                state.openFileNumber = fileNumber
                if recycled.capacity <= 16 << 20, state.spare.capacity < recycled.capacity {
                    state.spare = recycled
                }
                var resume: [CheckedContinuation<Void, any Error>] = []
                var fail: [CheckedContinuation<Void, any Error>] = []
                if let failure {
                    state.error = failure
                    fail = state.asyncWaiters.map(\.continuation)
                    state.asyncWaiters = []
                } else {
                    let newDurable =
                        switch configuration.durability {
                        case .fsyncEachBatch, .fsyncInterval: synced ? writtenSequence : state.durableSequence
                        case .none: writtenSequence
                        }
                    if newDurable > state.durableSequence {
                        state.durableSequence = newDurable
                        var waiting: [(sequence: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
                        for w in state.asyncWaiters {
                            if w.sequence <= newDurable { resume.append(w.continuation) } else { waiting.append(w) }
                        }
                        state.asyncWaiters = waiting
                    }
                }
                progressed.broadcast()
                let done = failure != nil || (state.closing && state.chunks.isEmpty && !unsynced)
                if !resume.isEmpty || !fail.isEmpty {
                    lock.unlock()
                    for c in resume { c.resume() }
                    for c in fail { c.resume(throwing: failure!) }
                    lock.lock()
                }
                if done { break }
            }
            state.threadExited = true
            progressed.broadcast()
            lock.unlock()
            _ = io.close(fd)
        }

        private var currentPath: String { StoreFiles.journalFile(directory, fileNumber) }

        private func writeAll(_ bytes: [UInt8]) throws {
            try bytes.withUnsafeBytes { raw in
                var done = 0
                while done < raw.count {
                    let n = io.write(fd, UnsafeRawBufferPointer(rebasing: raw[done...]))
                    guard n > 0 else {
                        let why = n == 0 ? "write returned 0" : errnoText(Int32(-n))
                        throw ActionStoreError(
                            .io,
                            "journal write to \(currentPath) failed after \(done) of \(raw.count) bytes: \(why); "
                                + "the journal stopped accepting records, reopen the store to recover"
                        )
                    }
                    done += n
                }
            }
        }

        private func sync(stats: inout Stats) throws {
            let t0 = ContinuousClock.now
            let r = io.sync(fd)
            stats.lastFsyncLatency = .now - t0
            stats.fsyncs += 1
            guard r == 0 else {
                throw ActionStoreError(
                    .io,
                    "journal fsync of \(currentPath) failed: \(errnoText(-r)); records since the previous "
                        + "sync may be lost, the journal stopped accepting records, reopen the store to recover"
                )
            }
        }

        /// Syncs and closes the current file, then creates file `next` with a synced header.
        private func roll(to next: UInt64, stats: inout Stats) throws {
            try sync(stats: &stats)
            _ = io.close(fd)
            fd = -1
            fd = try Core.createFile(directory: directory, fileNumber: next, io: io)
            fileNumber = next
        }

        // MARK: Opening

        /// Creates file `fileNumber` (which must not exist), writes and syncs its header, and
        /// syncs the directory, so that a later file never exists without this one's header.
        static func createFile(directory: String, fileNumber: UInt64, io: FileIO) throws -> Int32 {
            let path = StoreFiles.journalFile(directory, fileNumber)
            let fd = io.open(path, O_WRONLY | O_CREAT | O_EXCL)
            guard fd >= 0 else { throw ActionStoreError(.io, "cannot create \(path): \(errnoText(-fd))") }
            do {
                try writeHeader(fd: fd, path: path, fileNumber: fileNumber, io: io)
                let r = io.syncDirectory(directory)
                guard r == 0 else {
                    throw ActionStoreError(.io, "cannot sync directory \(directory): \(errnoText(-r))")
                }
            } catch {
                _ = io.close(fd)
                throw error
            }
            return fd
        }

        private static func writeHeader(fd: Int32, path: String, fileNumber: UInt64, io: FileIO) throws {
            let header = JournalFormat.fileHeader(fileNumber: fileNumber)
            var done = 0
            while done < header.count {
                // A short write is legal (a signal, a nearly full disk): continue where it stopped.
                let n = header.withUnsafeBytes { io.write(fd, UnsafeRawBufferPointer(rebasing: $0[done...])) }
                guard n > 0 else {
                    let why = n < 0 ? errnoText(Int32(-n)) : "write returned 0"
                    throw ActionStoreError(.io, "cannot write the header of \(path) at byte \(done): \(why)")
                }
                done += n
            }
            let r = io.sync(fd)
            guard r == 0 else { throw ActionStoreError(.io, "cannot sync \(path): \(errnoText(-r))") }
        }

        static func openForAppend(
            directory: String,
            configuration: Configuration,
            recoveredEnd: JournalPosition?,
            io: FileIO
        ) throws -> Opened {
            if mkdir(directory, 0o755) != 0 && errno != EEXIST {
                throw ActionStoreError(.io, "cannot create journal directory \(directory): \(errnoText(errno))")
            }
            let files = try StoreFiles.journalNumbers(in: directory)
            let end: JournalPosition
            if let recoveredEnd {
                if let beyond = files.last, beyond > recoveredEnd.fileNumber {
                    throw ActionStoreError(
                        .corruption,
                        "journal file \(StoreFiles.journalFile(directory, beyond)) lies past the recovered end "
                            + "\(recoveredEnd); replay it or remove it"
                    )
                }
                end = recoveredEnd
            } else if let last = files.last {
                let scan = try JournalReader(directory: directory)
                    .replay(from: JournalPosition(fileNumber: last, offset: 0)) { _, _, _ in }
                end = scan.validEnd
            } else {
                let fd = try createFile(directory: directory, fileNumber: 1, io: io)
                return Opened(fileNumber: 1, fd: fd, offset: UInt64(JournalFormat.fileHeaderBytes))
            }

            var opened: Opened
            if files.contains(end.fileNumber) {
                let path = StoreFiles.journalFile(directory, end.fileNumber)
                let fd = io.open(path, O_WRONLY)
                guard fd >= 0 else { throw ActionStoreError(.io, "cannot open \(path): \(errnoText(-fd))") }
                opened = Opened(fileNumber: end.fileNumber, fd: fd, offset: end.offset)
                do {
                    if end.offset < UInt64(JournalFormat.fileHeaderBytes) {
                        // A torn file header: rewrite the file from scratch.
                        try truncate(fd: fd, path: path, to: 0, io: io)
                        try writeHeader(fd: fd, path: path, fileNumber: end.fileNumber, io: io)
                        opened.offset = UInt64(JournalFormat.fileHeaderBytes)
                    } else {
                        try truncate(fd: fd, path: path, to: end.offset, io: io)
                        let r = io.sync(fd)
                        guard r == 0 else { throw ActionStoreError(.io, "cannot sync \(path): \(errnoText(-r))") }
                    }
                } catch {
                    _ = io.close(fd)
                    throw error
                }
            } else {
                let fd = try createFile(directory: directory, fileNumber: end.fileNumber, io: io)
                opened = Opened(fileNumber: end.fileNumber, fd: fd, offset: UInt64(JournalFormat.fileHeaderBytes))
            }
            if configuration.startNewFileOnOpen && opened.offset > UInt64(JournalFormat.fileHeaderBytes) {
                _ = io.close(opened.fd)
                let next = opened.fileNumber + 1
                let fd = try createFile(directory: directory, fileNumber: next, io: io)
                opened = Opened(fileNumber: next, fd: fd, offset: UInt64(JournalFormat.fileHeaderBytes))
            }
            return opened
        }

        private static func truncate(fd: Int32, path: String, to length: UInt64, io: FileIO) throws {
            let r = io.truncate(fd, Int64(length))
            guard r == 0 else { throw ActionStoreError(.io, "cannot truncate \(path) to \(length): \(errnoText(-r))") }
        }
    }
}

/// Results written by disjoint indexes from the workers of one `DispatchQueue.concurrentPerform`.
final class ParallelResults<T>: @unchecked Sendable {
    // Safe without a lock: the buffer is allocated once (never moved or copied, unlike an Array
    // written through withUnsafeMutableBufferPointer from several threads, which raced), each index
    // is written by exactly one worker, and read only after concurrentPerform returns.
    private let items: UnsafeMutableBufferPointer<T?>

    init(count: Int) {
        items = .allocate(capacity: count)
        items.initialize(repeating: nil)
    }

    deinit {
        items.deinitialize()
        items.deallocate()
    }

    func set(_ i: Int, _ value: T) { items[i] = value }

    /// Every result, in index order; each index must have been set.
    func take() -> [T] { items.map { $0! } }
}

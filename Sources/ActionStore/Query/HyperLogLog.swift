import CXXHash

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A HyperLogLog sketch of distinct 64-bit hashes, precision 14 (16,384 registers).
///
/// Relative standard error is 1.04/√16384 ≈ 0.81% over the whole range; the estimator is Ertl's
/// improved raw estimator ("New cardinality estimation algorithms for HyperLogLog sketches", 2017),
/// which needs no bias tables and is unbiased from 0 to 2^64. Small sketches stay sparse (a
/// dictionary of touched registers) so that many small groups do not each pay 16 KiB.
struct HyperLogLog: Sendable, Hashable {
    static let precision = 14
    static let registerCount = 1 << precision
    /// Sparse up to this many touched registers, then dense.
    static let sparseMax = registerCount / 8

    private var sparse: [UInt16: UInt8] = [:]
    private var dense: [UInt8] = []

    init() {}

    var isDense: Bool { !dense.isEmpty }

    /// Bytes held, for the state estimate.
    var bytes: Int { isDense ? HyperLogLog.registerCount : sparse.count * 4 + 16 }

    mutating func insert(hash h: UInt64) {
        let index = Int(h >> UInt64(64 - HyperLogLog.precision))
        let rest = h << UInt64(HyperLogLog.precision)
        // Rank: position of the first 1-bit in the remaining 50 bits, 51 when they are all zero.
        let rank = UInt8(Swift.min(rest.leadingZeroBitCount, 64 - HyperLogLog.precision) + 1)
        set(index, rank)
    }

    private mutating func set(_ index: Int, _ rank: UInt8) {
        if isDense {
            if dense[index] < rank { dense[index] = rank }
            return
        }
        let k = UInt16(index)
        if sparse[k, default: 0] < rank { sparse[k] = rank }
        if sparse.count > HyperLogLog.sparseMax {
            dense = [UInt8](repeating: 0, count: HyperLogLog.registerCount)
            for (i, r) in sparse { dense[Int(i)] = r }
            sparse = [:]
        }
    }

    mutating func merge(_ o: HyperLogLog) {
        if o.isDense {
            if !isDense {
                var d = o.dense
                for (i, r) in sparse where d[Int(i)] < r { d[Int(i)] = r }
                dense = d
                sparse = [:]
                return
            }
            for i in 0..<HyperLogLog.registerCount where dense[i] < o.dense[i] { dense[i] = o.dense[i] }
        } else {
            for (i, r) in o.sparse { set(Int(i), r) }
        }
    }

    /// The estimated number of distinct hashes inserted.
    var estimate: Double {
        let q = 64 - HyperLogLog.precision
        let m = Double(HyperLogLog.registerCount)
        var counts = [Double](repeating: 0, count: q + 2)
        if isDense {
            for r in dense { counts[Int(r)] += 1 }
        } else {
            counts[0] = m - Double(sparse.count)
            for r in sparse.values { counts[Int(r)] += 1 }
        }
        if counts[0] == m { return 0 }
        var z = m * HyperLogLog.tau(1 - counts[q + 1] / m)
        for k in stride(from: q, through: 1, by: -1) {
            z += counts[k]
            z *= 0.5
        }
        z += m * HyperLogLog.sigma(counts[0] / m)
        return 0.721_347_520_444_481_703_680 * m * m / z
    }

    private static func sigma(_ x0: Double) -> Double {
        if x0 == 1 { return .infinity }
        var x = x0
        var y = 1.0
        var z = x
        while true {
            x *= x
            let zPrev = z
            z += x * y
            y += y
            if z == zPrev { return z }
        }
    }

    private static func tau(_ x0: Double) -> Double {
        if x0 == 0 || x0 == 1 { return 0 }
        var x = x0
        var y = 1.0
        var z = 1 - x
        while true {
            x = x.squareRoot()
            let zPrev = z
            y *= 0.5
            z -= (1 - x) * (1 - x) * y
            if z == zPrev { return z / 3 }
        }
    }

    /// The hash of a distinct value; equal values (int 10 and double 10.0 included) hash equally.
    static func hash(_ v: QueryValue) -> UInt64 {
        switch v {
        case .null: return 0
        case .string(let s): return hash(s, seed: 1)
        case .json(let s): return hash(s, seed: 2)
        case .int(let i): return hash(bits: UInt64(bitPattern: i), seed: 3)
        case .double(let d): return hash(bits: d.bitPattern, seed: 4)
        case .bool(let b): return hash(bits: b ? 1 : 0, seed: 5)
        case .timestamp(let t, _): return hash(bits: UInt64(bitPattern: t), seed: 6)
        }
    }

    static func hash(_ s: String, seed: UInt64) -> UInt64 {
        var s = s
        return s.withUTF8 { unsafe XXH3_64bits_withSeed($0.baseAddress, $0.count, seed) }
    }

    static func hash(bits: UInt64, seed: UInt64) -> UInt64 {
        var b = bits.littleEndian
        return unsafe withUnsafeBytes(of: &b) { unsafe XXH3_64bits_withSeed($0.baseAddress, 8, seed) }
    }
}

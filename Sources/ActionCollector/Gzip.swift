import CZlib

/// Decompression of `Content-Encoding: gzip` bodies with system zlib. Public for tests and load
/// generators, which compress with ``compress(_:level:)``.
public enum Gzip {
    public enum Failure: Error, Equatable {
        /// The output would exceed the limit (a gzip bomb, or just too big).
        case tooLarge
        /// Not gzip, or damaged; zlib's message.
        case corrupt(String)
    }

    /// Inflates a gzip stream (several concatenated members allowed).
    /// - Parameters:
    ///   - input: the compressed bytes.
    ///   - outputBytesMax: stop with `.tooLarge` as soon as the output would go past this.
    ///   - reserve: called with each growth of the output before it is made, so the caller can
    ///     account for the memory (back-pressure); returns false to stop with `.tooLarge`.
    /// - Complexity: O(output); memory is the output (never more than `outputBytesMax`, whatever
    ///   the compression ratio) plus a 64 KiB chunk and zlib's 32 KiB window.
    public static func decompress(
        _ input: [UInt8],
        outputBytesMax: Int,
        reserve: (Int) -> Bool = { _ in true }
    ) throws(Failure) -> [UInt8] {
        if input.isEmpty { throw .corrupt("the body is empty") }
        var stream = z_stream()
        // 15 + 16: a 32 KiB window, gzip wrapper only (zlib's documented convention).
        guard inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .corrupt("inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        // zlib inflates into a fixed chunk that is then appended (a copy): the output is never
        // zero-filled ahead of zlib, which in a debug build cost about 20 s per 50 MiB.
        let chunk = 64 << 10
        var scratch = [UInt8](repeating: 0, count: chunk)
        var output: [UInt8] = []
        var status: Int32 = Z_OK
        var inputOffset = 0
        repeat {
            let (consumed, written, st): (Int, Int, Int32) = input.withUnsafeBufferPointer { inBuf in
                scratch.withUnsafeMutableBufferPointer { outBuf in
                    // Safe because both pointers are used only inside these closures, and the
                    // counts handed to zlib stay within the two buffers.
                    stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress! + inputOffset)
                    stream.avail_in = UInt32(inBuf.count - inputOffset)
                    stream.next_out = outBuf.baseAddress!
                    stream.avail_out = UInt32(outBuf.count)
                    let before = (stream.avail_in, stream.avail_out)
                    let st = inflate(&stream, Z_NO_FLUSH)
                    return (Int(before.0 - stream.avail_in), Int(before.1 - stream.avail_out), st)
                }
            }
            inputOffset += consumed
            status = st
            if written > 0 {
                guard output.count + written <= outputBytesMax, reserve(written) else { throw .tooLarge }
                scratch.withUnsafeBufferPointer {
                    output.append(contentsOf: UnsafeBufferPointer(rebasing: $0[..<written]))
                }
            }
            switch status {
            case Z_STREAM_END:
                // Another gzip member may follow (RFC 1952 allows concatenation).
                if inputOffset < input.count {
                    guard inflateReset(&stream) == Z_OK else { throw .corrupt("inflateReset failed") }
                    status = Z_OK
                }
            case Z_OK:
                break
            case Z_BUF_ERROR:
                // No progress possible with room for output: out of input before the end.
                if inputOffset >= input.count { throw .corrupt("the gzip stream is truncated") }
            default:
                let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                throw .corrupt(message)
            }
        } while status != Z_STREAM_END
        return output
    }

    /// Compresses `input` as one gzip member (used by tests and the load generator).
    public static func compress(_ input: [UInt8], level: Int32 = 6) -> [UInt8] {
        var stream = z_stream()
        let ok = deflateInit2_(
            &stream,
            level,
            Z_DEFLATED,
            15 + 16,
            8,
            Z_DEFAULT_STRATEGY,
            ZLIB_VERSION,
            Int32(MemoryLayout<z_stream>.size)
        )
        precondition(ok == Z_OK, "deflateInit2 failed: \(ok)")
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))) + 32)
        let written: Int = input.withUnsafeBufferPointer { inBuf in
            output.withUnsafeMutableBufferPointer { outBuf in
                // Safe because deflateBound sized the output for the whole input in one call.
                stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress)
                stream.avail_in = UInt32(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = UInt32(outBuf.count)
                let st = deflate(&stream, Z_FINISH)
                precondition(st == Z_STREAM_END, "deflate failed: \(st)")
                return outBuf.count - Int(stream.avail_out)
            }
        }
        output.removeSubrange(written...)
        return output
    }
}

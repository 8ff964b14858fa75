import CZlib
import Foundation

/// How an archive file keeps event payloads: raw DEFLATE (zlib) with a preset dictionary of the
/// words Keelson's payloads are made of, behind a 4-byte little-endian length of the JSON text.
/// A payload is a few hundred bytes: without the dictionary DEFLATE has little to work with.
///
/// The dictionary is part of the archive format (`archive_info.compression` names it): it never
/// changes; a new one gets a new name, and readers keep the old.
enum PayloadCompression {
    static let name = "deflate-raw+keelson-1"

    /// Payloads bigger than this do not inflate (no event payload is near it: the store bounds
    /// them far below), so a damaged length cannot make a reader allocate gigabytes.
    static let maximumLength = 64 << 20

    enum Failure: Error, CustomStringConvertible {
        case zlib(String, Int32)
        case damaged(String)

        var description: String {
            switch self {
            case .zlib(let step, let code): "zlib \(step) failed (\(code))"
            case .damaged(let why): "an archived payload does not inflate: \(why)"
            }
        }
    }

    /// The JSON fragments most payloads share, the most frequent last (DEFLATE reaches back from
    /// the end of the window).
    static let dictionary: [UInt8] = Array("""
        {"application":"","service":"","channel":"","parameters":{},"configDigest":"sha256:",\
        "labels":{},"name":"","comment":"","scope":"","role":"","error":null,"output":"",\
        "previousOwner":null,"worker":"worker:","engineVersion":3,"trigger":"release",\
        "rollback":false,"requestID":"","idempotencyKey":"","result":{"durationMilliseconds":,\
        "error":null,"output":"","succeeded":true},"document":"{\\"health\\":{},\\"replicas\\":,\
        \\"run\\":{\\"image\\":\\"\\"},\\"version\\":\\"\\"}","decision":{"actions":[],\
        "reason":{"waits":{"version":"","gate":{"soak":{"channel":"","sinceMilliseconds":,\
        "soakSeconds":}}},"converged":{"version":""}},"status":"converged","version":"",\
        "waitingFor":null,"wakeAtMilliseconds":null},"nowMilliseconds":,"viewPosition":,\
        "observation":{"objects":[{"desiredReplicas":,"drifted":false,"health":"healthy",\
        "message":null,"name":"","readyReplicas":,"version":""}]},"runtime":"",\
        "digest":"sha256:","fetches":,"firstMilliseconds":,"lastMilliseconds":,"sameAs":,\
        "version":"","instance":"
        """.utf8)

    static func deflate(_ text: String) throws -> Data {
        var input = Array(text.utf8)
        var stream = z_stream()
        var code = deflateInit2_(&stream, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard code == Z_OK else { throw Failure.zlib("deflateInit2", code) }
        defer { deflateEnd(&stream) }
        code = dictionary.withUnsafeBufferPointer { deflateSetDictionary(&stream, $0.baseAddress, uInt($0.count)) }
        guard code == Z_OK else { throw Failure.zlib("deflateSetDictionary", code) }
        let bound = Int(deflateBound(&stream, uLong(input.count)))
        var output = [UInt8](repeating: 0, count: bound + 4)
        let length = UInt32(input.count)
        for index in 0..<4 { output[index] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(index))) }
        let written: Int = try input.withUnsafeMutableBufferPointer { source in
            try output.withUnsafeMutableBufferPointer { target in
                stream.next_in = source.baseAddress
                stream.avail_in = uInt(source.count)
                stream.next_out = target.baseAddress! + 4
                stream.avail_out = uInt(bound)
                let code = CZlib.deflate(&stream, Z_FINISH)
                guard code == Z_STREAM_END else { throw Failure.zlib("deflate", code) }
                return bound - Int(stream.avail_out)
            }
        }
        return Data(output[0..<(4 + written)])
    }

    static func inflate(_ data: Data) throws -> String {
        guard data.count >= 4 else { throw Failure.damaged("\(data.count) bytes, shorter than its length") }
        let bytes = [UInt8](data)
        let length = (0..<4).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
        guard length <= maximumLength else { throw Failure.damaged("it claims \(length) bytes") }
        var stream = z_stream()
        var code = inflateInit2_(&stream, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard code == Z_OK else { throw Failure.zlib("inflateInit2", code) }
        defer { inflateEnd(&stream) }
        code = dictionary.withUnsafeBufferPointer { inflateSetDictionary(&stream, $0.baseAddress, uInt($0.count)) }
        guard code == Z_OK else { throw Failure.zlib("inflateSetDictionary", code) }
        var input = Array(bytes[4...])
        var output = [UInt8](repeating: 0, count: max(length, 1))
        let produced: Int = try input.withUnsafeMutableBufferPointer { source in
            try output.withUnsafeMutableBufferPointer { target in
                stream.next_in = source.baseAddress
                stream.avail_in = uInt(source.count)
                stream.next_out = target.baseAddress
                stream.avail_out = uInt(target.count)
                let code = CZlib.inflate(&stream, Z_FINISH)
                guard code == Z_STREAM_END else { throw Failure.damaged("zlib says \(code)") }
                return target.count - Int(stream.avail_out)
            }
        }
        guard produced == length else { throw Failure.damaged("\(produced) bytes where it claims \(length)") }
        return String(decoding: output[0..<produced], as: UTF8.self)
    }
}

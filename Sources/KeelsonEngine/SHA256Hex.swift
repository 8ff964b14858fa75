import Crypto
import Foundation

/// The hex SHA-256 of a text's UTF-8 bytes (an observation's digest, `sha256:<hex>`: the same
/// digest the compiler gives documents).
enum SHA256Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    static func of(_ text: String) -> String {
        var hex: [UInt8] = []
        hex.reserveCapacity(64)
        for byte in SHA256.hash(data: Data(text.utf8)) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: hex, as: UTF8.self)
    }
}

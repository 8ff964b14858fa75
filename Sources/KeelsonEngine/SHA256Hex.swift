import Crypto
import Foundation
import KeelsonCore

/// The hex SHA-256 of a text's UTF-8 bytes (an observation's digest, `sha256:<hex>`: the same
/// digest the compiler gives documents).
enum SHA256Hex {
    static func of(_ text: String) -> String {
        SHA256.hash(data: Data(text.utf8)).lowercaseHex
    }
}

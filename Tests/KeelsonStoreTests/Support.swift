import Foundation
import KeelsonCore
@testable import KeelsonStore
import Synchronization

/// A fresh directory under the system temp dir, removed when the value is released.
final class TemporaryDirectory: Sendable {
    let url: URL

    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("keelson-tests-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

/// A clock tests move by hand.
final class ManualClock: Sendable {
    private let now: Mutex<Date>

    init(_ start: Date = Date(timeIntervalSince1970: 1_795_000_000)) { now = Mutex(start) }

    func advance(by seconds: TimeInterval) { now.withLock { $0 = $0.addingTimeInterval(seconds) } }
    func read() -> Date { now.withLock { $0 } }
}

/// A store in a temp directory with a manual clock.
func makeStore(
    _ directory: TemporaryDirectory, name: String = "test.db", clock: ManualClock = ManualClock(),
    configure: (inout StoreConfiguration) -> Void = { _ in }
) throws -> EventStore {
    var configuration = StoreConfiguration()
    configuration.durability = .normal
    configuration.clock = { clock.read() }
    configure(&configuration)
    return try EventStore(path: directory.path(name), configuration: configuration)
}

func note(_ text: String, type: String = "Note") -> NewEvent {
    NewEvent(type: type, payload: #"{"text":"\#(text)"}"#, actor: "test")
}


import AsyncHTTPClient
import Foundation
import KeelsonCore
import KeelsonServer
import KeelsonService
import KeelsonStore
import Logging
import KeelsonTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A plain TCP client on a blocking socket, for requests no HTTP client would send: half a request
/// line, a head dripped a byte at a time, a body that never comes. Its calls block, so they run on
/// a dispatch queue, away from the threads the server's handlers need.
final class RawConnection: @unchecked Sendable {
    let descriptor: Int32

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { throw POSIXError(.ECONNREFUSED) }
    }

    deinit { close(descriptor) }

    /// Sends text; false once the server has closed the connection.
    @discardableResult
    func send(_ text: String) -> Bool {
        Array(text.utf8).withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } >= 0
    }

    /// Reads until the server closes the connection or `seconds` pass: what arrived, and whether it
    /// was closed.
    func readUntilClosed(seconds: Double) -> (text: String, closed: Bool) {
        var received: [UInt8] = []
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(max(1, deadline.timeIntervalSinceNow * 1000)))
            guard ready > 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count <= 0 { return (String(decoding: received, as: UTF8.self), true) }
            received += buffer.prefix(count)
        }
        return (String(decoding: received, as: UTF8.self), false)
    }

    /// Reads one response (up to its blank line and `Content-Length` bytes), within `seconds`.
    func readResponse(seconds: Double) -> String {
        var received: [UInt8] = []
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let text = String(decoding: received, as: UTF8.self)
            if let end = text.range(of: "\r\n\r\n") {
                let length = text[..<end.lowerBound].split(separator: "\r\n")
                    .first { $0.lowercased().hasPrefix("content-length:") }.flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                if text[end.upperBound...].utf8.count >= length { return text }
            }
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count <= 0 { break }
            received += buffer.prefix(count)
        }
        return String(decoding: received, as: UTF8.self)
    }
}

@Suite("Server timeouts and the connection limit, on real sockets")
struct ServerLimitsTests {
    static func start(_ harness: Harness, limits: ServerLimits) async throws -> (port: Int, task: Task<Void, any Error>, connections: ConnectionCount) {
        var settings = KeelsonServer.Settings(stateRoot: harness.directory.appendingPathComponent("state").path)
        settings.port = 0
        settings.workerName = "server:limits"
        settings.limits = limits
        let (urls, announce) = AsyncStream<String>.makeStream()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let task = Task { [settings, logger] in
            try await KeelsonServer.run(store: harness.store, settings: settings, logger: logger) { announce.yield($0) }
        }
        var iterator = urls.makeAsyncIterator()
        let url = try #require(await iterator.next())
        return (Int(url.split(separator: ":").last!)!, task, settings.connections)
    }

    static func healthy(_ port: Int) async throws -> Bool {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/healthz"), timeout: .seconds(30))
        return response.status == .ok
    }

    @Test("half-sent request lines and dripped heads are cut off (408) while other clients are served")
    func slowHeads() async throws {
        let harness = try await Harness.make()
        var limits = ServerLimits()
        limits.headerTimeout = .seconds(1)
        let (port, server, _) = try await Self.start(harness, limits: limits)
        defer { server.cancel() }

        let halves = try (0..<20).map { _ in try RawConnection(port: port) }
        for connection in halves { connection.send("GET /heal") }
        let dripper = try RawConnection(port: port)
        // A head dripped a few bytes at a time keeps bytes coming, but never finishes.
        let dripping = Task.detached {
            for part in ["GET /healthz HTTP/1.1\r\n", "Host: x\r\n"] + Array(repeating: "X-Slow: y\r\n", count: 200) {
                guard dripper.send(part) else { return }
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        defer { dripping.cancel() }
        #expect(try await Self.healthy(port), "another client is served meanwhile")

        // Each is closed well before this generous bound (the limit is 1 s; the machine may be slow).
        for connection in halves + [dripper] {
            let (text, closed) = await onOwnThread { connection.readUntilClosed(seconds: 30) }
            #expect(closed, "the half-sent request was cut off")
            #expect(text.hasPrefix("HTTP/1.1 408"), "\(text)")
        }
        #expect(try await Self.healthy(port))
    }

    @Test("a body dripped a byte at a time is cut off at the body timeout")
    func slowBody() async throws {
        let harness = try await Harness.make()
        var limits = ServerLimits()
        limits.bodyTimeout = .seconds(1)
        limits.idleTimeout = .seconds(600)  // bytes keep coming: only the body timeout can end it
        let (port, server, _) = try await Self.start(harness, limits: limits)
        defer { server.cancel() }

        let slowBody = try RawConnection(port: port)
        slowBody.send("POST /api/v1/alerts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(harness.tokens[.deployer]!)\r\nContent-Length: 1000\r\n\r\n")
        let dripping = Task.detached {
            for _ in 0..<900 {
                guard slowBody.send(" ") else { return }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        defer { dripping.cancel() }
        let (_, closed) = await onOwnThread { slowBody.readUntilClosed(seconds: 60) }
        #expect(closed, "the body still arriving after the body timeout was cut off")
        #expect(try await Self.healthy(port))
        #expect(try await harness.store.events(EventFilter(types: [AlertFired.eventType])).isEmpty)
    }

    @Test("an idle kept-alive connection is closed")
    func idleConnection() async throws {
        let harness = try await Harness.make()
        var limits = ServerLimits()
        limits.idleTimeout = .seconds(1)
        let (port, server, _) = try await Self.start(harness, limits: limits)
        defer { server.cancel() }

        let idle = try RawConnection(port: port)
        idle.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = await onOwnThread { idle.readResponse(seconds: 30) }
        #expect(response.hasPrefix("HTTP/1.1 200"), "\(response)")
        let (_, idleClosed) = await onOwnThread { idle.readUntilClosed(seconds: 30) }
        #expect(idleClosed, "the kept-alive connection was closed once idle")
    }

    @Test("connections beyond the limit are answered 503 and closed at once; a freed slot serves again")
    func connectionLimit() async throws {
        let harness = try await Harness.make()
        var limits = ServerLimits()
        limits.maxConnections = 4
        limits.headerTimeout = .seconds(600)  // only the limit can close what follows
        let (port, server, connections) = try await Self.start(harness, limits: limits)
        defer { server.cancel() }

        var held = try (0..<4).map { _ in try RawConnection(port: port) }
        for _ in 0..<300 where connections.value < 4 { try await Task.sleep(for: .milliseconds(100)) }
        #expect(connections.value == 4)
        for _ in 0..<3 {
            let extra = try RawConnection(port: port)
            let (text, closed) = await onOwnThread { extra.readUntilClosed(seconds: 30) }
            #expect(closed && text.hasPrefix("HTTP/1.1 503"), "\(text)")
        }
        held.removeLast()
        for _ in 0..<300 where connections.value > 3 { try await Task.sleep(for: .milliseconds(100)) }
        let served = try RawConnection(port: port)
        served.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = await onOwnThread { served.readResponse(seconds: 30) }
        #expect(response.hasPrefix("HTTP/1.1 200"), "\(response)")
        _ = held
    }
}

import AsyncHTTPClient
import Foundation
import KeelsonCore
import KeelsonServer
import KeelsonService
import KeelsonStore
import Logging
import NIOCore
import Testing

/// The server on a real socket, with a real HTTP client.
@Suite("keelson serve on a socket")
struct LiveServerTests {
    /// Starts the server on a free port; returns its URL and the task running it.
    static func start(_ harness: Harness) async throws -> (url: String, task: Task<Void, any Error>) {
        var settings = KeelsonServer.Settings(stateRoot: harness.directory.appendingPathComponent("state").path)
        settings.port = 0
        settings.workerName = "server:test"
        let (urls, announce) = AsyncStream<String>.makeStream()
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let task = Task { [settings, logger] in
            try await KeelsonServer.run(store: harness.store, settings: settings, logger: logger) { announce.yield($0) }
        }
        var iterator = urls.makeAsyncIterator()
        let url = try #require(await iterator.next())
        return (url, task)
    }

    /// Reads the SSE stream after `lastEventID` until an event at `until` or later arrives.
    static func read(_ url: String, token: String, lastEventID: Int64, until: Int64) async throws -> [Int64] {
        var request = HTTPClientRequest(url: url + "/api/v1/events/stream")
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Last-Event-ID", value: String(lastEventID))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        #expect(response.status == .ok)
        #expect(response.headers.first(name: "content-type") == "text/event-stream")
        var positions: [Int64] = []
        var pending = ""
        for try await buffer in response.body {
            pending += String(buffer: buffer)
            while let end = pending.range(of: "\n\n") {
                let frame = pending[..<end.lowerBound]
                pending = String(pending[end.upperBound...])
                guard let idLine = frame.split(separator: "\n").first(where: { $0.hasPrefix("id: ") }) else { continue }
                let position = Int64(idLine.dropFirst(4))!
                let data = frame.split(separator: "\n").first { $0.hasPrefix("data: ") }!.dropFirst(6)
                let event = try JSONDecoder().decode(APIEvent.self, from: Data(data.utf8))
                #expect(event.position == position)
                positions.append(position)
                if position >= until { return positions }  // dropping the connection mid-stream
            }
        }
        return positions
    }

    @Test("a real client: health, a release over HTTP, and the SSE stream resumed with Last-Event-ID loses and repeats nothing")
    func liveStream() async throws {
        let harness = try await Harness.make()
        let (url, server) = try await Self.start(harness)
        defer { server.cancel() }

        let health = try await HTTPClient.shared.execute(HTTPClientRequest(url: url + "/healthz"), timeout: .seconds(10))
        #expect(health.status == .ok)

        for index in 0..<40 {
            try await harness.store.append([NewEvent(type: "Note", payload: #"{"n":\#(index)}"#, actor: "test")], to: "notes")
        }
        let token = harness.tokens[.viewer]!
        let cut = try await harness.store.lastPosition() - 15
        let first = try await Self.read(url, token: token, lastEventID: 0, until: cut)
        // More events while nobody listens, then resume from the last one seen.
        for index in 40..<70 {
            try await harness.store.append([NewEvent(type: "Note", payload: #"{"n":\#(index)}"#, actor: "test")], to: "notes")
        }
        var release = HTTPClientRequest(url: url + "/api/v1/releases")
        release.method = .POST
        release.headers.add(name: "Authorization", value: "Bearer \(harness.tokens[.deployer]!)")
        release.body = .bytes(ByteBuffer(string: #"{"application": "shop", "service": "web", "version": "1.0.0"}"#))
        let released = try await HTTPClient.shared.execute(release, timeout: .seconds(30))
        #expect(released.status == .ok)
        let last = try await harness.store.lastPosition()
        let second = try await Self.read(url, token: token, lastEventID: first.last!, until: last)
        let all = first + second
        #expect(all == Array(1...all.last!), "every position once, in order")
        #expect(all.last! >= last)

        // Ending the server ends the stream too, rather than holding up the shutdown.
        server.cancel()
        _ = try? await server.value
    }

    @Test("metrics count what the worker does")
    func metrics() async throws {
        let harness = try await Harness.make()
        _ = try await harness.control.release(ReleaseBody(application: "shop", service: "web", version: "1.0.0"), actor: "test")
        let (url, server) = try await Self.start(harness)
        defer { server.cancel() }
        var text = ""
        for _ in 0..<100 {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url + "/metrics"), timeout: .seconds(10))
            text = String(buffer: try await response.body.collect(upTo: 1 << 20))
            if text.contains("keelson_applies_total{outcome=\"succeeded\"}") && text.contains("keelson_fetch_duration_seconds_count") { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(text.contains("keelson_decisions_total{status=\"converging\"}"), "\(text)")
        #expect(text.contains("keelson_applies_total{outcome=\"succeeded\"} 1"), "\(text)")
        #expect(text.contains("keelson_apply_duration_seconds_count{outcome=\"succeeded\"} 1"), "\(text)")
        #expect(text.contains("keelson_fetch_duration_seconds_count{runtime=\"sim\",outcome=\"succeeded\"}"), "\(text)")
        #expect(text.contains("keelson_events_appended_total{type=\"DecisionMade\"}"), "\(text)")
        // Both instances, whatever their status (the store's clock is the test's, the server's worker
        // reads the real one: what they decide is not the point here).
        let instances = text.split(separator: "\n").filter { $0.hasPrefix("keelson_instances{status=") }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }
        #expect(instances.count == InstanceStatus.allCases.count && instances.reduce(0, +) == 2, "\(text)")
    }
}

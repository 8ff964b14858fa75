import AsyncAlgorithms
import Foundation
import HTTPTypes
import Hummingbird
import KeelsonCore
import KeelsonService
import KeelsonStore
import NIOCore
import Synchronization

/// The live event stream (`GET /api/v1/events/stream`) as Server-Sent Events: every event after a
/// position, then each new one as it is appended. Each frame's `id` is the event's position, so a
/// client that reconnects with `Last-Event-ID` resumes exactly after the last event it saw —
/// nothing lost, nothing twice. When the server shuts down, open streams end (so that shutdown
/// does not wait for them) and clients reconnect to the next server.
public final class EventStreams: Sendable {
    private struct State {
        var open: [Int: AsyncChannel<ByteBuffer>] = [:]
        var next = 0
        var closed = false
    }

    private let state = Mutex(State())

    public init() {}

    /// How many streams are open (for metrics and tests).
    public var openCount: Int { state.withLock { $0.open.count } }

    /// Ends every open stream and refuses new ones (graceful shutdown).
    public func closeAll() {
        let open = state.withLock { state in
            state.closed = true
            defer { state.open.removeAll() }
            return Array(state.open.values)
        }
        for channel in open { channel.finish() }
    }

    /// The stream of events after `after` that match `filter` (both checked by the route).
    func response(after: Int64, filter: EventFilter, control: ControlPlane, keepAlive: Duration) async throws -> Response {
        // Back-pressure: `send` waits until the response has written the previous frame, and the
        // subscription reads the next chunk of the log only when asked, so a slow client holds
        // back its own stream (nothing is dropped, nothing piles up in memory).
        let channel = AsyncChannel<ByteBuffer>()
        let accepted = state.withLock { state -> Int? in
            guard !state.closed else { return nil }
            state.next += 1
            state.open[state.next] = channel
            return state.next
        }
        guard let id = accepted else {
            throw APIError(status: 503, code: "shutting_down", message: "the server is shutting down; reconnect in a moment")
        }
        let subscription = control.store.follow(after: after, matching: filter)
        let lastSent = Stamp()
        let producer = Task {
            do {
                for try await event in subscription {
                    await channel.send(ByteBuffer(string: try Self.frame(event)))
                    lastSent.touch()
                }
            } catch {}
            channel.finish()
        }
        // A comment only when the stream has been quiet for `keepAlive`.
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(until: lastSent.value.advanced(by: keepAlive))
                if Task.isCancelled { break }
                if ContinuousClock.now - lastSent.value >= keepAlive {
                    await channel.send(ByteBuffer(string: ": keep-alive\n\n"))
                    lastSent.touch()
                }
            }
        }
        let stop: @Sendable () -> Void = { [weak self] in
            producer.cancel()
            ticker.cancel()
            channel.finish()
            _ = self?.state.withLock { $0.open.removeValue(forKey: id) }
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        // A first comment, so that the client sees the stream open at once.
        let opening = ByteBuffer(string: ": keelson event stream after position \(after)\nretry: 2000\n\n")
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            defer { stop() }
            try await writer.write(opening)
            for await buffer in channel { try await writer.write(buffer) }
            try await writer.finish(nil)
        })
    }

    static func frame(_ event: RecordedEvent) throws -> String {
        let data = String(decoding: try APIJSON.encoder.encode(APIEvent(event)), as: UTF8.self)
        return "id: \(event.position)\nevent: \(event.type)\ndata: \(data)\n\n"
    }
}

/// When a stream last sent something.
final class Stamp: Sendable {
    private let instant = Mutex(ContinuousClock.now)
    var value: ContinuousClock.Instant { instant.withLock { $0 } }
    func touch() { instant.withLock { $0 = .now } }
}

/// Whether the server is ready: the worker has folded the log and is deciding.
public actor Readiness {
    public private(set) var isReady = false
    public init() {}
    public func markReady() { isReady = true }
}

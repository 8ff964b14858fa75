import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

/// The bounds `keelson serve` puts on connections, so that clients that send slowly, send half a
/// request, or open many connections cannot hold the server. docs/operations.md lists them.
public struct ServerLimits: Sendable, Hashable {
    /// From a request's first byte (or, on a new connection, from its opening) to the end of its
    /// head (request line and headers). Past it: `408` and the connection is closed.
    public var headerTimeout: Duration = .seconds(10)
    /// How long a kept-alive connection may wait for its next request (Hummingbird's idle timeout).
    public var idleTimeout: Duration = .seconds(60)
    /// From the end of a request's head to the end of its body. Past it the connection is closed.
    public var bodyTimeout: Duration = .seconds(60)
    /// Open connections at most; one more is answered `503` and closed at once.
    public var maxConnections = 512

    public init() {}
}

/// Hummingbird's HTTP/1 child channel with a ``ConnectionGuard`` at the front of each connection's
/// pipeline (where it sees raw bytes) and a ``RequestProgress`` after the HTTP decoder (where it
/// sees request and response parts). Hummingbird's own idle timeout bounds kept-alive connections;
/// the guard adds what Hummingbird has no setting for: the time a head and a body may take, and
/// the number of connections.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let base: HTTP1Channel
    let limits: ServerLimits
    let connections: ConnectionCount

    init(responder: @escaping HTTPChannelHandler.Responder, limits: ServerLimits, connections: ConnectionCount) {
        base = HTTP1Channel(
            responder: responder,
            configuration: .init(additionalChannelHandlers: [RequestProgress()], idleTimeout: TimeAmount(limits.idleTimeout)))
        self.limits = limits
        self.connections = connections
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let (limits, connections, base) = (limits, connections, base)
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ConnectionGuard(limits: limits, connections: connections), position: .first)
        }.flatMap { _ in base.setup(channel: channel, logger: logger) }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }

    /// The server builder for `Application(server:)`.
    static func builder(limits: ServerLimits, connections: ConnectionCount = ConnectionCount()) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in GuardedHTTP1Channel(responder: responder, limits: limits, connections: connections) }
    }
}

/// How many connections are open, across the server's event loops.
public final class ConnectionCount: Sendable {
    private let count = Atomic(0)
    public init() {}
    public var value: Int { count.load(ordering: .relaxed) }
    /// Counts one more; false (and not counted) when `limit` are open already.
    func open(limit: Int) -> Bool {
        var current = count.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = count.compareExchange(expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }
    func close() { count.subtract(1, ordering: .relaxed) }
}

/// First in a connection's pipeline: admits it or answers `503` (over the connection limit), and
/// closes it when a request's head or body takes longer than the limits allow. It sees raw bytes
/// (a request starts with its first byte); ``RequestProgress`` tells it where in a request the
/// HTTP decoder is.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private let limits: ServerLimits
    private let connections: ConnectionCount
    private var counted = false
    private var admitted = false
    /// Heads and ends of requests the decoder has passed on, and responses finished.
    private var heads = 0
    private var ends = 0
    private var responses = 0
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    init(limits: ServerLimits, connections: ConnectionCount) {
        self.limits = limits
        self.connections = connections
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { admit(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimer()
        release()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        release()
        context.fireChannelInactive()
    }

    private func admit(_ context: ChannelHandlerContext) {
        guard !admitted else { return }
        admitted = true
        guard connections.open(limit: limits.maxConnections) else {
            refuse(context, status: "503 Service Unavailable", message: "too many open connections; try again shortly")
            return
        }
        counted = true
        // A new connection is for a request: its head must come within the header timeout.
        arm(limits.headerTimeout, context) { [weak self] in self?.headTimedOut() }
    }

    private func release() {
        if counted {
            counted = false
            connections.close()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // The first byte of a request after the previous response: its head's clock starts.
        if heads == ends, ends == responses, timer == nil {
            arm(limits.headerTimeout, context) { [weak self] in self?.headTimedOut() }
        }
        context.fireChannelRead(data)
    }

    // MARK: what RequestProgress reports

    func headArrived() {
        heads += 1
        guard let context else { return }
        cancelTimer()
        arm(limits.bodyTimeout, context) { [weak self] in self?.bodyTimedOut() }
    }

    func requestEnded() {
        ends += 1
        if heads == ends { cancelTimer() }
    }

    func responseEnded() {
        responses += 1
        // A pipelined request being read keeps its body timer; otherwise the connection is idle
        // (Hummingbird's idle timeout) until the next request's first byte.
        if heads == ends { cancelTimer() }
    }

    // MARK: timers

    private func arm(_ duration: Duration, _ context: ChannelHandlerContext, _ fire: @escaping () -> Void) {
        cancelTimer()
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(duration)) { fire() }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
    }

    private func headTimedOut() {
        timer = nil
        guard let context else { return }
        refuse(context, status: "408 Request Timeout", message: "the request's head did not arrive within \(limits.headerTimeout)")
    }

    private func bodyTimedOut() {
        timer = nil
        context?.close(promise: nil)
    }

    /// Answers with a bare status (no request was read, so no HTTP handler will) and closes.
    private func refuse(_ context: ChannelHandlerContext, status: String, message: String) {
        let body = #"{"error":{"code":"\#(status.hasPrefix("503") ? "unavailable" : "request_timeout")","message":"\#(message)","status":\#(status.prefix(3))}}"#
        let text = "HTTP/1.1 \(status)\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        context.writeAndFlush(wrapOutboundOut(.byteBuffer(context.channel.allocator.buffer(string: text)))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

/// After the HTTP decoder: tells the connection's ``ConnectionGuard`` when a request's head and
/// end arrive and when its response ends.
final class RequestProgress: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var guardHandler: ConnectionGuard?

    init() {}

    func handlerAdded(context: ChannelHandlerContext) {
        guardHandler = try? context.pipeline.syncOperations.handler(type: ConnectionGuard.self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        guardHandler = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: guardHandler?.headArrived()
        case .body: break
        case .end: guardHandler?.requestEnded()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { guardHandler?.responseEnded() }
        context.write(data, promise: promise)
    }
}

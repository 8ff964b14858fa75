import Foundation
import KeelsonCore
import KeelsonStore
import Prometheus

/// The server's Prometheus metrics (`GET /metrics`). Counters about the log come from following
/// it (so appends by any writer count, the CLI on the database file included); fetch latency is
/// timed by the worker; instances by status are read from the `instance_status` projection at
/// each scrape.
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let logPosition: Gauge
    private let fetchBuckets: [Duration] = [.milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(15), .seconds(60)]
    private let applyBuckets: [Duration] = [.milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5), .seconds(15), .seconds(30), .seconds(60), .seconds(120), .seconds(300), .seconds(600)]

    public init() {
        logPosition = registry.makeGauge(descriptor: Self.name("log_position", unit: "", help: "The position of the last event in the log."))
    }

    private static func name(_ metric: String, unit: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "keelson", metricName: metric, unitName: unit, helpText: help)
    }

    /// Counts one event of the log.
    public func observe(_ event: RecordedEvent) {
        registry.makeCounter(
            descriptor: Self.name("events_appended", unit: "total", help: "Events appended to the log since the server started, by type."),
            labels: [("type", event.type)]
        ).increment()
        logPosition.set(to: Double(event.position))
        switch event.type {
        case DecisionMade.eventType:
            guard let made = try? event.decode(DecisionMade.self) else { return }
            registry.makeCounter(
                descriptor: Self.name("decisions", unit: "total", help: "Decisions recorded, by the status decided."),
                labels: [("status", made.decision.status.rawValue)]
            ).increment()
        case ApplyFinished.succeededType, ApplyFinished.failedType:
            guard let finished = try? event.decodePayload(as: ApplyFinished.self) else { return }
            let outcome = finished.result.succeeded ? "succeeded" : "failed"
            registry.makeCounter(
                descriptor: Self.name("applies", unit: "total", help: "Applies finished, by outcome."), labels: [("outcome", outcome)]
            ).increment()
            registry.makeDurationHistogram(
                descriptor: Self.name("apply_duration", unit: "seconds", help: "How long applies took, by outcome."),
                labels: [("outcome", outcome)], buckets: applyBuckets
            ).record(.milliseconds(finished.result.durationMilliseconds))
        default:
            break
        }
    }

    /// Times one fetch (called by the worker).
    public func fetched(runtime: String, succeeded: Bool, duration: Duration) {
        registry.makeDurationHistogram(
            descriptor: Self.name("fetch_duration", unit: "seconds", help: "How long fetching an instance's current state took, by runtime and outcome."),
            labels: [("runtime", runtime), ("outcome", succeeded ? "succeeded" : "failed")], buckets: fetchBuckets
        ).record(duration)
    }

    /// The exposition text, with the instance counts read now.
    public func render(store: EventStore) async throws -> String {
        var counts: [String: Int] = [:]
        for row in try await store.instanceStatuses() where row.desiredVersion != nil { counts[row.status, default: 0] += 1 }
        for status in InstanceStatus.allCases.map(\.rawValue) {
            registry.makeGauge(
                descriptor: Self.name("instances", unit: "", help: "Instances with a release, by status."), labels: [("status", status)]
            ).set(to: Double(counts[status] ?? 0))
        }
        return registry.emitToString()
    }
}

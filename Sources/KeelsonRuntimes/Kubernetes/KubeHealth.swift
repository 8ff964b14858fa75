import Foundation
import KeelsonCore

/// The health of a live Kubernetes object by its kind, following `kubectl rollout status` and
/// Argo CD's gitops-engine: a workload is healthy once its controller has observed the latest
/// spec and every replica of it is updated and available; a Deployment whose progress deadline
/// passed is unhealthy; a paused one is reported as such (not healthy). Kinds without a rule are
/// healthy once they exist.
public enum KubeHealth {
    public struct Assessment: Sendable, Hashable {
        public var health: Health
        public var message: String?
        public var desiredReplicas: Int
        public var readyReplicas: Int
    }

    public static func assess(_ object: JSONValue) -> Assessment {
        let kind = object.field("kind")?.text ?? ""
        let generation = object.field("metadata", "generation")?.number ?? 0
        let observed = object.field("status", "observedGeneration")?.number ?? 0
        let seen = observed >= generation
        func count(_ keys: String...) -> Int { Int(object.field(keys)?.number ?? 0) }
        switch kind {
        case "Deployment":
            let wanted = Int(object.field("spec", "replicas")?.number ?? 1)
            let updated = count("status", "updatedReplicas")
            let available = count("status", "availableReplicas")
            let ready = count("status", "readyReplicas")
            let replicas = count("status", "replicas")
            if object.field("spec", "paused")?.flag == true {
                return Assessment(health: .unknown, message: "paused (kubectl rollout resume)", desiredReplicas: wanted, readyReplicas: ready)
            }
            guard seen else { return progressing("waiting for the new spec to be observed", wanted, ready) }
            if let condition = condition(object, "Progressing"), condition.reason == "ProgressDeadlineExceeded" {
                return Assessment(
                    health: .unhealthy, message: "progress deadline exceeded" + (condition.message.map { ": \($0)" } ?? ""),
                    desiredReplicas: wanted, readyReplicas: ready)
            }
            if updated < wanted { return progressing("\(updated) of \(wanted) replicas updated", wanted, ready) }
            if replicas > updated { return progressing("\(replicas - updated) old replicas pending termination", wanted, ready) }
            if available < updated { return progressing("\(available) of \(updated) updated replicas available", wanted, ready) }
            return Assessment(health: .healthy, message: nil, desiredReplicas: wanted, readyReplicas: ready)
        case "StatefulSet":
            let wanted = Int(object.field("spec", "replicas")?.number ?? 1)
            let ready = count("status", "readyReplicas")
            guard seen else { return progressing("waiting for the new spec to be observed", wanted, ready) }
            if ready < wanted { return progressing("\(ready) of \(wanted) replicas ready", wanted, ready) }
            let strategy = object.field("spec", "updateStrategy", "type")?.text ?? "RollingUpdate"
            if strategy == "RollingUpdate", let update = object.field("status", "updateRevision")?.text,
               object.field("status", "currentRevision")?.text != update {
                return progressing("rolling out revision \(update)", wanted, ready)
            }
            return Assessment(health: .healthy, message: nil, desiredReplicas: wanted, readyReplicas: ready)
        case "DaemonSet":
            let wanted = count("status", "desiredNumberScheduled")
            let updated = count("status", "updatedNumberScheduled")
            let available = count("status", "numberAvailable")
            guard seen else { return progressing("waiting for the new spec to be observed", wanted, available) }
            if updated < wanted { return progressing("\(updated) of \(wanted) pods updated", wanted, available) }
            if available < wanted { return progressing("\(available) of \(wanted) pods available", wanted, available) }
            return Assessment(health: .healthy, message: nil, desiredReplicas: wanted, readyReplicas: available)
        case "Job":
            if let failed = condition(object, "Failed"), failed.status == "True" {
                return Assessment(health: .unhealthy, message: "failed" + (failed.message.map { ": \($0)" } ?? ""), desiredReplicas: 1, readyReplicas: 0)
            }
            if let complete = condition(object, "Complete"), complete.status == "True" {
                return Assessment(health: .healthy, message: nil, desiredReplicas: 1, readyReplicas: 1)
            }
            return progressing("running", 1, 0)
        case "Pod":
            let phase = object.field("status", "phase")?.text ?? "Pending"
            switch phase {
            case "Succeeded": return Assessment(health: .healthy, message: nil, desiredReplicas: 1, readyReplicas: 1)
            case "Failed": return Assessment(health: .unhealthy, message: object.field("status", "message")?.text ?? "failed", desiredReplicas: 1, readyReplicas: 0)
            case "Running":
                if condition(object, "Ready")?.status == "True" { return Assessment(health: .healthy, message: nil, desiredReplicas: 1, readyReplicas: 1) }
                return progressing("running, not ready", 1, 0)
            default: return progressing(phase.lowercased(), 1, 0)
            }
        case "Service":
            if object.field("spec", "type")?.text == "LoadBalancer" {
                let ingress = object.field("status", "loadBalancer", "ingress")?.list ?? []
                if ingress.isEmpty { return progressing("waiting for a load balancer address", 1, 0) }
            }
            return healthyOnce
        case "PersistentVolumeClaim":
            let phase = object.field("status", "phase")?.text ?? "Pending"
            if phase == "Lost" { return Assessment(health: .unhealthy, message: "its volume was lost", desiredReplicas: 1, readyReplicas: 0) }
            return phase == "Bound" ? healthyOnce : progressing("\(phase.lowercased()), not bound", 1, 0)
        case "Ingress":
            let ingress = object.field("status", "loadBalancer", "ingress")?.list ?? []
            return ingress.isEmpty ? progressing("waiting for an address", 1, 0) : healthyOnce
        default:
            return healthyOnce
        }
    }

    static let healthyOnce = Assessment(health: .healthy, message: nil, desiredReplicas: 1, readyReplicas: 1)

    static func progressing(_ message: String, _ wanted: Int, _ ready: Int) -> Assessment {
        Assessment(health: .unknown, message: message, desiredReplicas: wanted, readyReplicas: ready)
    }

    struct Condition { var status: String?; var reason: String?; var message: String? }

    static func condition(_ object: JSONValue, _ type: String) -> Condition? {
        for condition in object.field("status", "conditions")?.list ?? [] where condition.field("type")?.text == type {
            return Condition(status: condition.field("status")?.text, reason: condition.field("reason")?.text, message: condition.field("message")?.text)
        }
        return nil
    }
}

extension JSONValue {
    /// The value at a path of object keys.
    func field(_ keys: String...) -> JSONValue? { field(keys) }

    func field(_ keys: [String]) -> JSONValue? {
        var value = self
        for key in keys {
            guard case .object(let fields) = value, let next = fields[key] else { return nil }
            value = next
        }
        return value
    }

    var text: String? { if case .string(let text) = self { text } else { nil } }
    var flag: Bool? { if case .bool(let flag) = self { flag } else { nil } }
    var list: [JSONValue]? { if case .array(let items) = self { items } else { nil } }
    var number: Int64? {
        switch self {
        case .integer(let value): value
        case .number(let value): Int64(exactly: value)
        default: nil
        }
    }
}

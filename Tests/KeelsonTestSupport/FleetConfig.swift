/// A fleet for scale tests and the fleet benchmark: one application with channels in order (each
/// `after` the one before, no soak, no watch), many services, and one simulated runtime with zero
/// apply latency and zero time to healthy.
public enum FleetConfig {
    public static let channels = ["c1", "c2", "c3", "c4", "c5"]

    /// Services `<prefix>0` … `<prefix>(services - 1)` of `application`.
    public static func text(application: String, services: Int, servicePrefix: String = "svc-") -> String {
        var text = """
            kind: Runtime
            name: sim
            type: simulated
            settings: {applyLatency: 0s, timeToHealthy: 0s}
            ---
            kind: Application
            name: \(application)
            channels:

            """
        for (index, channel) in channels.enumerated() {
            let after = index == 0 ? "" : ", after: [\(channels[index - 1])]"
            text += "  - {name: \(channel), runtime: sim\(after), rules: {watch: 0s}}\n"
        }
        for index in 0..<services {
            text += "---\nkind: Service\nname: \(servicePrefix)\(index)\napplication: \(application)\nrun: {simulated: {}}\n"
        }
        return text
    }
}

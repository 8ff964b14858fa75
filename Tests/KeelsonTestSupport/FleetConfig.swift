/// A fleet for scale tests and the fleet benchmark: one application with channels in order (each
/// `after` the one before, no soak, no watch), many services, and one simulated runtime with zero
/// apply latency and zero time to healthy.
public enum FleetConfig {
    public static let channels = ["c1", "c2", "c3", "c4", "c5"]

    /// The simulated runtime `sim` (no latency, healthy at once) and how a service runs on it.
    public static let simulated = (runtime: "kind: Runtime\nname: sim\ntype: simulated\nsettings: {applyLatency: 0s, timeToHealthy: 0s}\n", name: "sim", run: "{simulated: {}}")

    /// Services `<prefix>0` … `<prefix>(services - 1)` of `application`, on `runtime` (a Runtime
    /// document, its name, and a service's `run:` on it).
    public static func text(
        application: String, services: Int, servicePrefix: String = "svc-",
        runtime: (runtime: String, name: String, run: String) = simulated
    ) -> String {
        var text = runtime.runtime + "---\nkind: Application\nname: \(application)\nchannels:\n"
        for (index, channel) in channels.enumerated() {
            let after = index == 0 ? "" : ", after: [\(channels[index - 1])]"
            text += "  - {name: \(channel), runtime: \(runtime.name)\(after), rules: {watch: 0s}}\n"
        }
        for index in 0..<services {
            text += "---\nkind: Service\nname: \(servicePrefix)\(index)\napplication: \(application)\nrun: \(runtime.run)\n"
        }
        return text
    }
}

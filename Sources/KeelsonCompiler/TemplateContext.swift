/// The names a template in a service's config can use (see docs/config.md, "Templates").
public enum TemplateContext {
    public static func values(
        application: ApplicationIntent, service: String, channel: ReleaseChannelIntent, runtime: RuntimeIntent,
        parameters: [String: String], version: String, replicas: Int
    ) -> [String: TemplateValue] {
        [
            "application": .scope(["name": .text(application.name)]),
            "service": .scope(["name": .text(service)]),
            "channel": .scope(["name": .text(channel.name)]),
            "runtime": .scope([
                "name": .text(runtime.name), "type": .text(runtime.type.rawValue),
                "labels": .scope(runtime.labels.mapValues(TemplateValue.text)),
            ]),
            "constants": .scope(channel.constants.mapValues(TemplateValue.text)),
            "parameters": .scope(parameters.mapValues(TemplateValue.text)),
            "release": .scope(["version": .text(version)]),
            "instance": .scope([
                "id": .text("\(application.name)/\(service)@\(channel.name)"), "replicas": .text(String(replicas)),
            ]),
        ]
    }
}

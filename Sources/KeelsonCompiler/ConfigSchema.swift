import KeelsonCore

/// A JSON Schema (draft 2020-12) of the config format, for editors (`keelson schema`).
/// Kept beside the parser: `ConfigSchemaTests` checks it accepts examples/shop and refuses typos.
public enum ConfigSchema {
    public static var document: JSONValue {
        .object([
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://keelson.dev/schema/config.json",
            "title": "Keelson config document",
            "description": "One YAML document: a Runtime, an Application or a Service. See docs/config.md.",
            // Dispatch on `kind`, so that an editor reports the field that is wrong, not "matches no schema".
            "type": "object",
            "required": .array(["kind"]),
            "properties": .object(["kind": .object(["enum": .array(IntentParser.kinds.map(JSONValue.string))])]),
            "allOf": .array(IntentParser.kinds.map { kind in
                .object([
                    "if": .object(["properties": .object(["kind": .object(["const": .string(kind)])])]),
                    "then": ref(kind),
                ])
            }),
            "$defs": .object([
                "Runtime": resource("Runtime", required: ["type"], properties: [
                    "type": .object(["enum": .array(RuntimeIntent.Kind.allCases.map { .string($0.rawValue) })]),
                    "labels": stringMap,
                    // Checked per type by the parser (docs/runtimes.md); here: scalars or a list of strings.
                    "settings": .object(["type": "object", "additionalProperties": .object(["oneOf": .array([
                        .object(["type": .array(["string", "number", "boolean"])]), .object(["type": "array", "items": string]),
                    ])])]),
                ]),
                "Application": resource("Application", required: ["channels"], properties: [
                    "channels": .object(["type": "array", "minItems": .integer(1), "items": ref("Channel")]),
                    "maxConverging": count(1...10_000),
                ]),
                "Channel": closed(required: ["name"], properties: [
                    "name": name,
                    "runtime": string,
                    "runtimeSelector": closed(required: ["channelNameLabel"], properties: [
                        "matchLabels": stringMap, "channelNameLabel": string,
                    ]),
                    "after": stringOrList, "constants": stringMap, "env": stringMap, "rules": ref("Rules"),
                ]),
                "Rules": closed(required: [], properties: [
                    "soak": duration, "watch": duration, "maxConverging": count(1...10_000),
                    "approval": closed(required: [], properties: ["required": boolean, "approvers": count(1...100)]),
                    "windows": .object(["type": "array", "items": closed(required: ["hours", "timeZone"], properties: [
                        "days": .object(["oneOf": .array([weekDay, .object(["type": "array", "items": weekDay])])]),
                        "hours": .object(["type": "string", "pattern": "^[0-9]{1,2}:[0-9]{2}-[0-9]{1,2}:[0-9]{2}$"]),
                        "timeZone": string,
                    ])]),
                    "freezes": .object(["type": "array", "items": closed(required: ["from", "until"], properties: [
                        "from": string, "until": string, "reason": string,
                    ])]),
                    "alertGates": .object(["type": "array", "items": closed(required: ["matchLabels"], properties: ["matchLabels": stringMap])]),
                ]),
                "Service": resource("Service", required: ["application"], properties: serviceFields.merging([
                    "application": string,
                    "parameters": .object(["type": "array", "items": closed(required: ["name"], properties: [
                        "name": .object([
                            "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
                            "maxLength": .integer(Int64(ParameterIntent.maxNameLength)),
                        ]),
                        "required": boolean, "default": string, "pattern": string, "description": string,
                        "type": .object(["enum": .array(ParameterIntent.Kind.allCases.map { .string($0.rawValue) })]),
                    ])]),
                    "perReleaseChannel": .object([
                        "type": "object",
                        "additionalProperties": closed(required: [], properties: serviceFields),
                    ]),
                ]) { $1 }),
                "Program": closed(required: ["command"], properties: [
                    "command": string, "args": stringOrList, "env": stringMap, "timeout": duration,
                    "workingDirectory": string,
                    "retryableExitCodes": .object(["type": "array", "items": .object(["type": "integer", "minimum": .integer(1), "maximum": .integer(255)])]),
                    "retry": closed(required: [], properties: ["attempts": count(1...100), "backoff": duration, "maxBackoff": duration]),
                ]),
            ]),
        ])
    }

    static var serviceFields: [String: JSONValue] {
        [
            "replicas": count(ServiceInstanceIntent.replicaRange),
            "env": stringMap, "progressDeadline": duration, "autoRollback": boolean,
            "healthCheck": closed(required: [], properties: [
                "http": closed(required: ["path"], properties: ["path": string, "port": port]),
                "tcp": closed(required: [], properties: ["port": port]),
                "exec": closed(required: ["command"], properties: ["command": string, "args": stringOrList]),
                "interval": duration, "timeout": duration, "healthyThreshold": count(1...100), "unhealthyThreshold": count(1...100),
            ]),
            "run": closed(required: [], properties: [
                "local": closed(required: ["command"], properties: [
                    "command": string, "args": stringOrList, "env": stringMap, "workingDirectory": string,
                ]),
                "custom": closed(required: ["fetch", "apply"], properties: ["fetch": ref("Program"), "apply": ref("Program")]),
                "kubernetes": closed(required: ["manifests"], properties: ["manifests": string, "namespace": string]),
                "ecs": closed(required: ["taskDefinition"], properties: [
                    "taskDefinition": string, "cluster": string, "service": stringMap,
                ]),
                "simulated": closed(required: [], properties: [:]),
            ]),
        ]
    }

    static func resource(_ kind: String, required: [String], properties: [String: JSONValue]) -> JSONValue {
        closed(required: ["kind", "name"] + required, properties: properties.merging([
            "kind": .object(["const": .string(kind)]), "name": name,
        ]) { $1 })
    }

    static func closed(required: [String], properties: [String: JSONValue]) -> JSONValue {
        .object([
            "type": "object", "additionalProperties": .bool(false),
            "required": .array(required.map(JSONValue.string)), "properties": .object(properties),
        ])
    }

    static func ref(_ name: String) -> JSONValue { .object(["$ref": .string("#/$defs/\(name)")]) }
    static let string: JSONValue = .object(["type": "string"])
    static let boolean: JSONValue = .object(["type": "boolean"])
    /// A port: a number from 1 to 65535, or a string (a number, or a template rendered per instance).
    static let port: JSONValue = .object(["oneOf": .array([
        .object(["type": "integer", "minimum": .integer(Int64(InputLimits.ports.lowerBound)), "maximum": .integer(Int64(InputLimits.ports.upperBound))]),
        .object(["type": "string", "pattern": "^([0-9]{1,5}|.*[{][{].*)$"]),
    ])])
    /// Names (applications, services, channels, runtimes): ``Names``' grammar.
    static let name: JSONValue = .object([
        "type": "string", "pattern": "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", "maxLength": .integer(Int64(Names.maxLength)),
    ])
    static func count(_ range: ClosedRange<Int>) -> JSONValue {
        .object(["type": "integer", "minimum": .integer(Int64(range.lowerBound)), "maximum": .integer(Int64(range.upperBound))])
    }
    /// The parser also bounds a duration's value (at most 365 days; at least 1s for deadlines,
    /// timeouts and intervals), which a pattern cannot say.
    static let duration: JSONValue = .object(["type": "string", "pattern": "^([0-9]+[smhd])+$", "maxLength": .integer(64)])
    static let stringMap: JSONValue = .object(["type": "object", "additionalProperties": .object(["type": .array(["string", "number", "boolean"])])])
    static let stringOrList: JSONValue = .object(["oneOf": .array([string, .object(["type": "array", "items": string])])])
    static let weekDay: JSONValue = .object(["enum": .array(["mon", "tue", "wed", "thu", "fri", "sat", "sun"])])
}

extension JSONValue: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
}

import Foundation
import KeelsonCompiler
import KeelsonService

/// Part 7: compiling 1,000 services × 5 release channels.
enum CompileBenchmark {
    /// A config of one application with `channels` ordered channels and `services` services, each
    /// with parameters, a templated local program, a health check and a per-channel override.
    static func config(services: Int, channels: Int) -> String {
        var text = """
            kind: Runtime
            name: local
            type: local
            labels: {region: eu}

            """
        text += "---\nkind: Application\nname: big\nchannels:\n"
        for channel in 0..<channels {
            text += "  - name: c\(channel)\n    runtime: local\n"
            if channel > 0 { text += "    after: [c\(channel - 1)]\n    rules: {soak: 5m}\n" }
            text += "    constants: {tier: t\(channel)}\n"
        }
        for service in 0..<services {
            text += """
                ---
                kind: Service
                name: svc-\(service)
                application: big
                parameters:
                  - {name: version, required: true, pattern: '[0-9]+\\.[0-9]+\\.[0-9]+'}
                  - {name: workers, type: int, default: "4"}
                replicas: 2
                env: {SERVICE: "{{service.name}}", TIER: "{{constants.tier}}"}
                run:
                  local:
                    command: ./bin/svc-\(service)
                    args: ["--version={{parameters.version}}", "--workers={{parameters.workers}}", "--channel={{channel.name}}"]
                    env: {REGION: "{{runtime.labels.region}}"}
                healthCheck:
                  http: {path: /healthz, port: "{{instance.replicas}}"}
                  interval: 5s
                perReleaseChannel:
                  c\(channels - 1): {replicas: 6}

                """
        }
        return text
    }

    struct Result {
        var parse: Duration
        var compile: Duration
        var documents: Int
    }

    static func run(services: Int, channels: Int) throws -> Result {
        let text = config(services: services, channels: channels)
        let clock = ContinuousClock()
        let start = clock.now
        let parsed = ConfigSource.parse(text, file: "big.yaml")
        guard parsed.diagnostics.isEmpty else { throw BenchmarkError(description: "\(parsed.diagnostics.prefix(3))") }
        let intent: Intent
        switch IntentParser.parse(parsed.documents, files: RecordedFiles([:])) {
        case .success(let value): intent = value
        case .failure(let errors): throw BenchmarkError(description: "\(errors)")
        }
        let parsedAt = clock.now
        var documents = 0
        for service in intent.services {
            let release = ReleaseRequest(application: "big", service: service.name, version: "1.2.3")
            switch Compiler.compile(intent, release: release, readFile: { _ in nil }) {
            case .success(let compiled): documents += compiled.count
            case .failure(let errors): throw BenchmarkError(description: "\(errors)")
            }
        }
        return Result(parse: parsedAt - start, compile: clock.now - parsedAt, documents: documents)
    }
}

import Foundation
import HTTPTypes
import HummingbirdTesting
import KeelsonCore
import KeelsonServer
import KeelsonService
import KeelsonStore
import NIOCore
import KeelsonTestSupport
import Testing

/// Random and mutated values for every query parameter, path parameter and body field of the API,
/// through the router: never a 500, never a trap, and nothing appended on a 4xx.
@Suite("API property tests (seeded)")
struct APIPropertyTests {
    /// `KEELSON_PROPERTY_SEED` repeats a run; the seed is printed with every failure.
    static let seed = ProcessInfo.processInfo.environment["KEELSON_PROPERTY_SEED"].flatMap(UInt64.init) ?? 0x6B65_656C_736F_6E
    /// Requests per run (a fixed number, so that a slow machine runs the same test, only slower);
    /// `KEELSON_FUZZ_ITERATIONS` runs more.
    static let maxRequests = ProcessInfo.processInfo.environment["KEELSON_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 1500

    /// Values that have broken parsers somewhere: numbers at and past every bound, NaN and
    /// infinity in their spellings, empty, long, control characters, other encodings.
    static let nasty: [String] = [
        "", " ", "0", "-0", "+1", "1", "-1", "01", "1.5", "1e3", "0x10", "9007199254740991", "9007199254740992",
        "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
        "99999999999999999999999999", "1e300", "-1e300", "1e-300", "nan", "NaN", "inf", "-inf", "infinity", "infs", "nans",
        "1e300d", "1e16d", "1e300w", "9223372036854775807s", "1d9223372036854775807s", "99999999999999d", "0s", "1.5h",
        "123456789012.5h", "90s", "2w", "2026-11-26T14:03:00Z", "2026-11-26", "9999-12-31T23:59:59Z", "10000-01-01T00:00:00Z",
        "0000-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2026-02-30T00:00:00Z", "true", "false",
        "TRUE", "yes", "null", "undefined", "shop", "shop/web", "shop/web@prod", "shop/web@prod@x", "/", "@", "a/b/c",
        "Shop", "sh op", "shop\u{0}", "\u{1B}[31m", "\u{7F}", "\u{202E}", "\u{FFFD}", "😀", "é", "..", "%", "%%", "%ZZ",
        ",", ",,", "a,b", "DecisionMade", "decision,approval", "instance:shop/web@prod", "tokens",
        String(repeating: "a", count: 64), String(repeating: "a", count: 300), String(repeating: "9", count: 5000),
        String(repeating: "\u{0}", count: 10), "'; DROP TABLE events; --", "{{x}}", "\\", "\"",
    ]

    static func percentEncoded(_ text: String, _ rng: inout SeededRandom) -> String {
        // Mostly encoded properly; sometimes raw `%` sequences are left for the decoder to refuse.
        if text.contains("%"), Bool.random(using: &rng) { return text.replacingOccurrences(of: " ", with: "%20") }
        return text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }

    /// Query parameter names by route, as the OpenAPI document declares them.
    static let queryParameters: [String: [String]] = {
        guard let document = try? JSONSerialization.jsonObject(with: Data(OpenAPIDocument.bytes)) as? [String: Any],
              let paths = document["paths"] as? [String: [String: Any]] else { return [:] }
        let shared = (document["components"] as? [String: Any])?["parameters"] as? [String: [String: Any]] ?? [:]
        func resolved(_ parameter: [String: Any]) -> [String: Any] {
            guard let reference = parameter["$ref"] as? String else { return parameter }
            return shared[String(reference.split(separator: "/").last ?? "")] ?? [:]
        }
        var result: [String: [String]] = [:]
        for (path, operations) in paths {
            for (method, operation) in operations {
                guard let operation = operation as? [String: Any] else { continue }
                let parameters = ((operation["parameters"] as? [[String: Any]] ?? []) + (operations["parameters"] as? [[String: Any]] ?? [])).map(resolved)
                result["\(method.uppercased()) \(path)"] = parameters.compactMap { $0["in"] as? String == "query" ? $0["name"] as? String : nil }
            }
        }
        return result
    }()

    /// A valid body per route, which mutations start from.
    static func template(_ route: RouteSpec) -> JSONValue? {
        func object(_ fields: [String: JSONValue]) -> JSONValue { .object(fields) }
        switch (route.method, route.path) {
        case ("POST", "/api/v1/config"):
            return object(["source": .string("/cfg/shop.yaml"), "dryRun": .bool(true), "files": .array([
                object(["path": .string("/cfg/shop.yaml"), "text": .string(Harness.config)])])])
        case ("POST", "/api/v1/releases"):
            return object(["application": .string("shop"), "service": .string("web"), "version": .string("1.0.0"),
                           "parameters": object(["version": .string("1.0.0")]), "dryRun": .bool(true)])
        case ("POST", "/api/v1/instances/{application}/{service}/{channel}/approve"):
            return object(["release": .string("1.0.0"), "comment": .string("ok")])
        case ("POST", "/api/v1/instances/{application}/{service}/{channel}/reject"),
             ("POST", "/api/v1/instances/{application}/{service}/{channel}/rollback"),
             ("POST", "/api/v1/services/{application}/{service}/mark-bad"):
            return object(["release": .string("1.0.0"), "reason": .string("why")])
        case ("POST", "/api/v1/pause"), ("POST", "/api/v1/resume"):
            return object(["scope": .string("shop/web"), "reason": .string("why")])
        case ("POST", "/api/v1/alerts"):
            return object(["name": .string("A"), "labels": object(["service": .string("web")]), "firing": .bool(true)])
        case ("POST", "/api/v1/alertmanager"):
            let alert = object([
                "status": .string("firing"), "labels": object(["alertname": .string("A"), "service": .string("web")]),
                "annotations": object(["summary": .string("s")]), "startsAt": .string("2026-11-27T09:29:42.139Z"),
                "endsAt": .string("0001-01-01T00:00:00Z"), "generatorURL": .string("http://x"), "fingerprint": .string("abc"),
            ])
            return object(["version": .string("4"), "groupKey": .string("{}"), "truncatedAlerts": .integer(0), "status": .string("firing"),
                           "receiver": .string("keelson"), "groupLabels": object([:]), "commonLabels": object([:]),
                           "commonAnnotations": object([:]), "externalURL": .string("http://am"), "alerts": .array([alert])])
        case ("POST", "/api/v1/tokens"):
            return object(["name": .string("t1"), "role": .string("viewer")])
        default:
            return nil
        }
    }

    static func randomScalar(_ rng: inout SeededRandom) -> JSONValue {
        switch Int.random(in: 0..<9, using: &rng) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2: return .integer([0, -1, 1, Int64.max, Int64.min, 9_007_199_254_740_993].randomElement(using: &rng)!)
        case 3: return .number([1.5, -1e300, 1e300, Double.leastNonzeroMagnitude, 0.1].randomElement(using: &rng)!)
        case 4: return .array([.string("x"), .null])
        case 5: return .object(["x": .string("y")])
        default: return .string(nasty.randomElement(using: &rng)!)
        }
    }

    /// One mutation somewhere in the tree: a field dropped, added, nulled or given a nasty value.
    static func mutate(_ value: JSONValue, _ rng: inout SeededRandom, depth: Int = 0) -> JSONValue {
        switch value {
        case .object(var fields):
            let keys = fields.keys.sorted()
            switch Int.random(in: 0..<6, using: &rng) {
            case 0 where !keys.isEmpty: fields[keys.randomElement(using: &rng)!] = nil
            case 1: fields[["dryrun", "extra", "", "DRYRUN", "\u{0}", "dryRun "].randomElement(using: &rng)!] = randomScalar(&rng)
            case 2 where !keys.isEmpty: fields[keys.randomElement(using: &rng)!] = randomScalar(&rng)
            case 3 where !keys.isEmpty: fields[keys.randomElement(using: &rng)!] = .null
            default:
                guard let key = keys.randomElement(using: &rng), depth < 4 else { return randomScalar(&rng) }
                fields[key] = mutate(fields[key]!, &rng, depth: depth + 1)
            }
            return .object(fields)
        case .array(var items):
            if items.isEmpty || Int.random(in: 0..<4, using: &rng) == 0 {
                items.append(Bool.random(using: &rng) ? randomScalar(&rng) : items.first ?? .null)
            } else {
                let index = Int.random(in: 0..<items.count, using: &rng)
                items[index] = mutate(items[index], &rng, depth: depth + 1)
            }
            return .array(items)
        default:
            return randomScalar(&rng)
        }
    }

    static func body(for route: RouteSpec, _ rng: inout SeededRandom) -> String? {
        guard route.method == "POST" else { return Bool.random(using: &rng) ? nil : "{\"x\":1}" }
        let template = template(route) ?? .object([:])
        let encoded = { (value: JSONValue) in String(decoding: (try? JSONEncoder().encode(value)) ?? Data(), as: UTF8.self) }
        switch Int.random(in: 0..<12, using: &rng) {
        case 0: return encoded(template)
        case 1: return ""
        case 2:  // malformed: cut anywhere
            let text = encoded(template)
            return String(text.prefix(Int.random(in: 0...max(0, text.count - 1), using: &rng)))
        case 3: return ["[]", "null", "1", "\"x\"", "{", "}", "{\"a\":}", "{\"a\" 1}", "\u{0}", "{\"a\":1,}", "[[[[[[[[[[", "NaN", "{\"a\":NaN}",
                        "{\"a\":1e999}", String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000),
                        "{\"application\":\"shop\",\"application\":null}", "\u{FEFF}{}", #"{"\uD800":1}"#].randomElement(using: &rng)!
        default:
            var value = template
            for _ in 0..<Int.random(in: 1...3, using: &rng) { value = mutate(value, &rng) }
            return encoded(value)
        }
    }

    static func uri(for route: RouteSpec, _ rng: inout SeededRandom) -> String {
        let valid = ["application": ["shop"], "service": ["web"], "channel": ["prod", "staging"], "name": ["sim", "ci", "t1"]]
        var path = ""
        for segment in route.path.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
            path += "/"
            if segment.hasPrefix("{") {
                let name = String(segment.dropFirst().dropLast())
                path += Int.random(in: 0..<3, using: &rng) == 0
                    ? percentEncoded(nasty.randomElement(using: &rng)!, &rng) : valid[name]!.randomElement(using: &rng)!
            } else {
                path += segment
            }
        }
        var query: [String] = []
        for name in queryParameters[route.description] ?? [] where Bool.random(using: &rng) {
            query.append("\(name)=\(percentEncoded(nasty.randomElement(using: &rng)!, &rng))")
        }
        if Int.random(in: 0..<10, using: &rng) == 0 { query.append("unknown=\(percentEncoded(nasty.randomElement(using: &rng)!, &rng))") }
        return query.isEmpty ? path : path + "?" + query.joined(separator: "&")
    }

    @Test("random and mutated parameters and bodies: never a 500 or a trap; a 4xx appends nothing")
    func neverFails() async throws {
        let harness = try await Harness.make()
        _ = try await harness.control.release(ReleaseBody(application: "shop", service: "web", version: "1.0.0"), actor: "test")
        // The live stream never ends by itself, so it is left to the other tests.
        // /readyz answers 503 "starting" by design here: no worker runs in router tests.
        let routes = APIRouter.routes.filter { $0.path != "/api/v1/events/stream" && $0.path != "/readyz" }
        let (sent, statuses) = try await harness.test { client -> (Int, [Int: Int]) in
            var rng = SeededRandom(seed: Self.seed)
            var statuses: [Int: Int] = [:]
            var sent = 0
            while sent < Self.maxRequests {
                let route = routes.randomElement(using: &rng)!
                let uri = Self.uri(for: route, &rng)
                let body = Self.body(for: route, &rng)
                let role: Role? = Int.random(in: 0..<20, using: &rng) == 0 ? .viewer : .admin
                let before = try await harness.store.lastPosition()
                let answer = try await client.execute(
                    uri: uri, method: HTTPRequest.Method(rawValue: route.method)!, headers: harness.headers(role),
                    body: body.map { ByteBuffer(string: $0) }
                ) { response in (Int(response.status.code), String(buffer: response.body)) }
                sent += 1
                statuses[answer.0, default: 0] += 1
                #expect(answer.0 < 500, "seed \(Self.seed), request \(sent): \(route.method) \(uri) \(body ?? "") → \(answer.0) \(answer.1.prefix(500))")
                // A config or release that does not compile is recorded as CompileFailed (422), by design.
                if (400..<500).contains(answer.0) && answer.0 != 422 {
                    let after = try await harness.store.lastPosition()
                    #expect(after == before, "seed \(Self.seed), request \(sent): \(route.method) \(uri) → \(answer.0), yet appended \(before + 1)…\(after)")
                }
                if answer.0 >= 400 {
                    #expect(answer.1.contains("\"error\""), "seed \(Self.seed): a JSON error body: \(answer.1.prefix(300))")
                }
            }
            return (sent, statuses)
        }
        #expect(sent == Self.maxRequests)
        // Most requests are refused, some get through: both paths were exercised.
        #expect(statuses[400, default: 0] > 0 && statuses[200, default: 0] > 0, "\(statuses)")
    }
}

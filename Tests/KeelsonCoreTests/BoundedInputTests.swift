import Foundation
import KeelsonTestSupport
import Testing
@testable import KeelsonCore

/// The checked parsers every value from outside goes through: in range, or a clear problem —
/// never a trap, whatever the text.
struct BoundedInputTests {
    @Test("durations: accepted forms and their seconds", arguments: [
        ("90s", 90), ("10m", 600), ("1h30m", 5_400), ("2d", 172_800), ("0s", 0), ("365d", 31_536_000), ("1d1s", 86_401),
    ])
    func durations(_ text: String, _ seconds: Int) throws {
        #expect(try BoundedInput.durationSeconds(text).get() == seconds)
    }

    @Test("durations: overflowing, too long, malformed and odd texts are problems, not traps", arguments: [
        "9223372036854775807d", "9223372036854775807m", "1d9223372036854775807s", "9999999999999d", "366d",
        "99999999999999999999999999s", "", "d", "10", "1x", "-5s", "1.5h", "１０s", "10s ", "\u{0}", String(repeating: "9", count: 10_000) + "s",
    ])
    func badDurations(_ text: String) {
        guard case .failure(let problem) = BoundedInput.durationSeconds(text) else {
            Issue.record("\(text.prefix(40)) was accepted")
            return
        }
        #expect(!problem.message.isEmpty)
        #expect(!problem.message.contains("\u{0}"))
    }

    @Test("a duration over the bound names the bound")
    func durationBound() {
        guard case .failure(let problem) = BoundedInput.durationSeconds("9999999999999d") else {
            Issue.record("accepted")
            return
        }
        #expect(problem.message.contains("longest duration accepted, 365d"), "\(problem)")
    }

    @Test("positions: 0 to 2^53 − 1", arguments: [
        ("0", true), ("42", true), ("9007199254740991", true), ("9007199254740992", false), ("-1", false),
        ("-9223372036854775808", false), ("9223372036854775807", false), ("99999999999999999999", false), ("1e3", false), ("", false), (" 1", false),
    ])
    func positions(_ text: String, _ accepted: Bool) {
        let result = BoundedInput.position(text)
        if accepted { #expect((try? result.get()) == Int64(text)) } else { #expect((try? result.get()) == nil) }
    }

    @Test("ports: 1 to 65535", arguments: [("1", true), ("65535", true), ("0", false), ("65536", false), ("99999", false), ("-1", false), ("http", false)])
    func ports(_ text: String, _ accepted: Bool) {
        #expect(((try? BoundedInput.port(text).get()) != nil) == accepted)
    }

    @Test("points in time: ages and ISO 8601 times", arguments: [
        ("90s", PointInTime.ago(milliseconds: 90_000)), ("1.5h", .ago(milliseconds: 5_400_000)), ("2w", .ago(milliseconds: 1_209_600_000)),
        ("1h30m", .ago(milliseconds: 5_400_000)), ("2026-11-26T14:03:00Z", .absolute(milliseconds: 1_795_701_780_000)),
        ("2026-11-26", .absolute(milliseconds: 1_795_651_200_000)),
    ])
    func points(_ text: String, _ expected: PointInTime) throws {
        #expect(try PointInTime.parse(text).get() == expected)
    }

    @Test("points in time: what used to trap converting a Double to Int64 is a problem", arguments: [
        "infs", "inf", "nan", "1e300d", "1e16d", "1e300w", "-5m", "1e3s", "0x10s", "1.5", "101y", "99999999999w", "9223372036854775807s",
        "10000-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "", "yesterday", String(repeating: "1", count: 5_000) + "s",
    ])
    func badPoints(_ text: String) {
        #expect((try? PointInTime.parse(text).get()) == nil, "\(text.prefix(40)) was accepted")
    }

    @Test("an age never reaches before 1970")
    func ageClampsAtEpoch() throws {
        let point = try PointInTime.parse("5200w").get()
        #expect(point.milliseconds(relativeTo: 1_000) == 0)
    }

    @Test("messages escape control characters and cut long values")
    func printable() {
        #expect(BoundedInput.quoted("a\u{1B}[31mb\nc\u{0}") == #""a\u{1B}[31mb\nc\u{0}""#)
        #expect(BoundedInput.printable(String(repeating: "x", count: 500), limit: 10) == "xxxxxxxxxx…")
    }

    @Test("saturating time arithmetic clamps instead of trapping")
    func saturating() {
        #expect(Int64.max.adding(saturating: 1) == .max)
        #expect(Int64.min.adding(saturating: -1) == .min)
        #expect(Int64.min.subtracting(saturating: 1) == .min)
        #expect(Int64(5).subtracting(saturating: .min) == .max)
        #expect(Int64.milliseconds(seconds: Int.max) == .max)
        #expect(Int64(clampingDouble: .infinity) == .max)
        #expect(Int64(clampingDouble: -.infinity) == .min)
        #expect(Int64(clampingDouble: .nan) == 0)
        #expect(Date(timeIntervalSince1970: 1e300).millisecondsSince1970 == .max)
    }

    @Test("decide on values no config accepts any more (an old or hand-appended event) decides, never traps")
    func decideSaturates() {
        typealias F = DecideFixture
        let huge = Int.max
        let policy = ChannelPolicy(name: "prod", after: ["canary"], soakSeconds: huge, watchSeconds: huge)
        let cases: [InstanceView] = [
            // soak of Int.max seconds
            F.view(F.record(), policy: policy, upstream: F.upstream("2.0.0", ago: F.minute)),
            // progress deadline of Int.max seconds while the apply runs and after it
            F.view(F.record(deadline: huge, request: "2.0.0")),
            F.view(F.record(deadline: huge, request: "2.0.0", result: true, seen: (false, ["2.0.0"], false, F.minute))),
            // watch of Int.max seconds after converging
            F.view(F.record(request: "2.0.0", result: true, seen: (true, ["2.0.0"], false, F.minute)), policy: policy),
            F.view(F.record(request: "2.0.0", result: true, seen: (true, ["2.0.0"], false, F.minute), converged: ("2.0.0", F.minute)), policy: policy),
            // a freeze that ends at the end of time
            F.view(F.record(), policy: ChannelPolicy(name: "prod", freezes: [FreezePolicy(from: 0, until: .max)])),
        ]
        for view in cases {
            for now in [F.now, Int64.max, Int64.min, 0] {
                for engine in Engine.versions {
                    let decision = Engine.decide(view, nowMilliseconds: now, engine: engine)
                    #expect(!decision.reason.words(at: now).isEmpty)
                    #expect(!decision.reason.words(at: Int64.max).isEmpty && !decision.reason.words(at: Int64.min).isEmpty)
                }
            }
        }
    }
}

struct NamesTests {
    @Test("names: DNS-1123 labels", arguments: [
        ("web", true), ("shop", true), ("prod-eu", true), ("a", true), ("a1-b2", true), (String(repeating: "a", count: 63), true),
        ("my web", false), ("we/b", false), ("web@x", false), ("", false), (String(repeating: "a", count: 64), false),
        ("Web", false), ("-web", false), ("web-", false), ("web\u{1B}", false), ("wéb", false), ("sh/op", false), ("shop@x", false), ("sim us/@", false),
    ])
    func names(_ name: String, _ valid: Bool) {
        #expect(Names.isValid(name) == valid)
        #expect((Names.problem(name, kind: .service) == nil) == valid)
    }

    @Test("versions", arguments: [
        ("1.4.2", true), ("v2.0.0-rc.1", true), ("1.0.0+build.5", true), ("0a1b2c3d", true), ("", false), ("1.0 bad", false),
        ("-1", false), ("1.0\n", false), (String(repeating: "1", count: 129), false), ("1/2", false),
    ])
    func versions(_ version: String, _ valid: Bool) {
        #expect((Names.versionProblem(version) == nil) == valid)
    }

    @Test("instances from outside are checked part by part; the log's own are read as they are")
    func instances() {
        #expect((try? ServiceInstanceID.parse("shop/web@prod").get()) == ServiceInstanceID(application: "shop", service: "web", channel: "prod"))
        #expect((try? ServiceInstanceID.parse("shop/my web@prod").get()) == nil)
        #expect((try? ServiceInstanceID.parse("shop/web").get()) == nil)
        #expect(ServiceInstanceID("shop/my web@prod") != nil)
    }
}

/// Random and mutated texts through every checked parser: a value in range or a problem whose
/// message carries no raw control character — never a trap. Seeded: a failure names its seed;
/// `KEELSON_FUZZ_ITERATIONS` runs more.
struct BoundedInputFuzzTests {
    static let pieces = [
        "0", "1", "9", "00", "9223372036854775807", "9223372036854775808", "18446744073709551616", "99999999999999999999",
        "s", "m", "h", "d", "w", "y", ".", "-", "+", "e", "E", "1e300", "inf", "nan", "infs", "0x", "_", " ", "\t", "\n",
        "\u{0}", "\u{1B}[31m", "\u{7F}", "\u{FFFD}", "é", "１", "٣", "T", "Z", ":", "2026-11-26", "T14:03:00Z", "9999-12-31", "0000-01-01",
    ]

    @Test("random texts never trap any parser", arguments: [UInt64(1), 2, 3, 4])
    func randomTexts(seed: UInt64) {
        let iterations = ProcessInfo.processInfo.environment["KEELSON_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 2_000
        var random = SeededRandom(seed: seed)
        for _ in 0..<iterations {
            let count = Int.random(in: 0...8, using: &random)
            let text = (0..<count).map { _ in Self.pieces.randomElement(using: &random)! }.joined()
            check(text, seed: seed)
        }
    }

    func check(_ text: String, seed: UInt64) {
        func clean(_ problem: InputProblem) -> Bool {
            !problem.message.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
        }
        switch BoundedInput.durationSeconds(text) {
        case .success(let seconds): #expect((0...InputLimits.maxDurationSeconds).contains(seconds), "seed \(seed): \(text.debugDescription)")
        case .failure(let problem): #expect(clean(problem), "seed \(seed): \(text.debugDescription)")
        }
        switch BoundedInput.position(text) {
        case .success(let position): #expect((0...InputLimits.maxPosition).contains(position), "seed \(seed): \(text.debugDescription)")
        case .failure(let problem): #expect(clean(problem), "seed \(seed): \(text.debugDescription)")
        }
        switch BoundedInput.port(text) {
        case .success(let port): #expect(InputLimits.ports.contains(port), "seed \(seed): \(text.debugDescription)")
        case .failure(let problem): #expect(clean(problem), "seed \(seed): \(text.debugDescription)")
        }
        switch PointInTime.parse(text) {
        case .success(let point):
            let at = point.milliseconds(relativeTo: 1_795_600_800_000)
            #expect((0...InputLimits.latestTimeMilliseconds).contains(at), "seed \(seed): \(text.debugDescription)")
        case .failure(let problem): #expect(clean(problem), "seed \(seed): \(text.debugDescription)")
        }
    }

    @Test("the issue's texts, kept as a corpus")
    func corpus() {
        for text in [
            "9223372036854775807d", "9223372036854775807m", "1d9223372036854775807s", "9999999999999d", "99999999999999d",
            "infs", "1e300d", "1e16d", "1e300w", "-9223372036854775808", "9223372036854775807", "99999", "70000",
        ] {
            check(text, seed: 0)
        }
    }
}

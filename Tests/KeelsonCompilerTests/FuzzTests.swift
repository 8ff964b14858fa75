import Foundation
import KeelsonCore
import KeelsonYAML
import KeelsonTestSupport
import Testing
@testable import KeelsonCompiler

/// Config files as raw bytes, held in memory: read as a disk read would (strict UTF-8), so that
/// mutated bytes reach the same checks.
final class ByteFiles: ConfigFiles {
    let files: [String: [UInt8]]
    private(set) var read: [String: String] = [:]

    init(_ files: [String: [UInt8]]) { self.files = files }

    func isDirectory(_ path: String) -> Bool? {
        if files[path] != nil { return false }
        return files.keys.contains { $0.hasPrefix(path + "/") } ? true : nil
    }

    func entries(of directory: String) -> [String] {
        files.keys.filter { $0.hasPrefix(directory + "/") }.map { String($0.dropFirst(directory.count + 1)) }.sorted()
    }

    func text(of path: String) -> Result<String, FileProblem> {
        guard let bytes = files[path] else { return .failure(.missing) }
        let decoded = UTF8Text.decode(bytes)
        if case .success(let text) = decoded { read[path] = text }
        return decoded
    }

    func resolvedPath(_ path: String) -> String { LexicalPath.normalize("/" + path) }
}

/// The property every config input must have, whatever its bytes: reading, parsing and compiling
/// it ends — within a time bound — in an intent and documents, or in diagnostics located in the
/// file (line > 0 for a problem in a file's text); it never traps and never hangs.
enum ConfigProperty {
    /// Each input must be done within this much CPU time of the thread reading it (a debug build)…
    static let cpuLimit: TimeInterval = 10
    /// …and within this much wall time: a hang is caught, a loaded machine is not mistaken for one.
    static let wallLimit: TimeInterval = 120

    struct Violation: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs the whole pipeline on a thread of its own (YAML's), measuring its CPU time.
    static func check(_ files: [String: [UInt8]], folder: String) -> Violation? {
        final class Box: @unchecked Sendable {
            var violation: Violation?
            var cpu: TimeInterval = 0
            let done = DispatchSemaphore(value: 0)
        }
        let box = Box()
        let thread = Thread {
            // Everything on this one thread, YAML included, so that its CPU time is the input's.
            BoundedYAML.onLargeStack {
                let started = threadCPUTime()
                box.violation = run(files, folder: folder)
                box.cpu = threadCPUTime() - started
            }
            box.done.signal()
        }
        thread.start()
        guard box.done.wait(timeout: .now() + wallLimit) == .success else {
            return Violation(description: "did not finish within \(Int(wallLimit))s")
        }
        if box.violation == nil, box.cpu > cpuLimit {
            return Violation(description: "took \(Int(box.cpu))s of CPU time (at most \(Int(cpuLimit))s)")
        }
        return box.violation
    }

    /// The CPU time the calling thread has used, in seconds.
    static func threadCPUTime() -> TimeInterval {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return TimeInterval(time.tv_sec) + TimeInterval(time.tv_nsec) / 1e9
    }

    static func run(_ files: [String: [UInt8]], folder: String) -> Violation? {
        let source = ByteFiles(files)
        let loaded = ConfigSource.load(path: folder, from: source)
        var problems = loaded.diagnostics
        switch IntentParser.parse(loaded, files: source) {
        case .failure(let errors):
            problems += errors.diagnostics
        case .success(let intent):
            for service in intent.services {
                let release = ReleaseRequest(application: service.application, service: service.name, version: "1.0.0")
                if case .failure(let errors) = Compiler.compile(intent, release: release, readFile: { source.contents(of: $0) }) {
                    // Release problems are about the release (file "release") or an instance, not a file's text.
                    problems += errors.diagnostics.filter { files[$0.file] != nil }
                }
            }
        }
        for problem in problems where files[problem.file] != nil && problem.line <= 0 {
            return Violation(description: "a problem in a file's text without its line: \(problem)")
        }
        for problem in problems where problem.description.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) {
            return Violation(description: "a raw control character in: \(problem.description.debugDescription)")
        }
        return nil
    }
}

@Suite("Fuzzing the YAML reader and the config parser")
struct FuzzTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/fuzz")

    /// examples/shop, as bytes by path under `shop/`.
    static let shop: [String: [UInt8]] = {
        let names = ["platform.yaml", "shop.yaml", "web.yaml", "worker.yaml"]
        return Dictionary(uniqueKeysWithValues: names.map { name in
            ("shop/" + name, Array(FileManager.default.contents(atPath: ExampleTests.folder + "/" + name)!))
        })
    }()

    @Test("reading and checking config runs on a 512 KiB stack (the smallest a thread gets by default): only YAML's composing needs more, and has its own")
    func smallStack() async {
        // As deep as Keelson allows, through both the YAML reader and the field readers.
        let deep = "kind: Runtime\nname: sim\ntype: simulated\nlabels: " + String(repeating: "[", count: 60) + String(repeating: "]", count: 60) + "\n"
        let problems = await onOwnThread(stackSize: 512 * 1024) { () -> [String] in
            var files = FuzzTests.shop
            files["shop/deep.yaml"] = Array(deep.utf8)
            let source = ByteFiles(files)
            let loaded = ConfigSource.load(path: "shop", from: source)
            var problems = loaded.diagnostics
            if case .failure(let errors) = IntentParser.parse(loaded, files: source) { problems += errors.diagnostics }
            return problems.map(\.description)
        }
        #expect(problems == ["shop/deep.yaml:4:9: Runtime sim › labels: expected a mapping of names to values, found a list"])
    }

    @Test("examples/shop passes the property as it is")
    func shopAsIs() async {
        #expect(await onOwnThread { ConfigProperty.check(Self.shop, folder: "shop")?.description } == nil)
    }

    /// The kept corpus: every input that was interesting once, run every time, alone and in
    /// place of examples/shop's shop.yaml.
    static let corpus: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: fixtures.path)) ?? []).filter { $0.hasSuffix(".yaml") }.sorted()

    @Test("the corpus is there")
    func corpusPresent() {
        #expect(Self.corpus.count >= 15, "\(Self.corpus)")
    }

    @Test("every corpus input ends in an intent or in located diagnostics, in time", arguments: corpus)
    func corpusInput(_ name: String) async throws {
        let bytes = try #require(FileManager.default.contents(atPath: Self.fixtures.appendingPathComponent(name).path))
        let (alone, inShop) = await onOwnThread {
            var withShop = Self.shop
            withShop["shop/shop.yaml"] = Array(bytes)
            return (ConfigProperty.check(["fuzz/" + name: Array(bytes)], folder: "fuzz")?.description,
                    ConfigProperty.check(withShop, folder: "shop")?.description)
        }
        #expect(alone == nil)
        #expect(inShop == nil)
    }

    @Test("an alias bomb is refused, not expanded, in the file at its line")
    func aliasBombs() async throws {
        for name in ["billion-laughs.yaml", "alias-bomb-key.yaml", "alias-chain-depth.yaml"] {
            let bytes = try #require(FileManager.default.contents(atPath: Self.fixtures.appendingPathComponent(name).path))
            let (seconds, documents, diagnostics, lines) = await onOwnThread {
                let started = Date()
                let parsed = ConfigSource.parse(String(decoding: bytes, as: UTF8.self), file: name)
                return (Date().timeIntervalSince(started), parsed.documents.count, parsed.diagnostics.map(\.message), parsed.diagnostics.map(\.line))
            }
            #expect(seconds < ConfigProperty.wallLimit)
            #expect(documents == 0, "\(name)")
            #expect(diagnostics.count == 1 && lines[0] > 0, "\(name): \(diagnostics)")
            #expect(diagnostics.first?.contains("aliases") == true, "\(name): \(diagnostics)")
        }
    }

    @Test("nesting deeper than libyaml's limit, or than Keelson's, is a located error, found without quadratic work")
    func deepNesting() async {
        var texts: [String] = []
        for depth in [100, 200, 999, 1_500, 20_000] {
            texts.append("a: " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "\n")
            // Mappings in flow mappings are keys: Yams hashes keys to find duplicates.
            texts.append("a: " + String(repeating: "{", count: depth) + String(repeating: "}", count: depth) + "\n")
            if depth <= 1_500 {
                // Explicit keys nest through indentation (each line one deeper).
                texts.append("a:\n" + (0..<depth).map { String(repeating: " ", count: $0 + 1) + "? \n" }.joined() + "   x\n")
            }
            if depth > BoundedYAML.maxDepth { texts.append(String(repeating: "- ", count: depth) + "x\n") }
        }
        for text in texts {
            let (cpu, documents, located, diagnostics) = await onOwnThread {
                BoundedYAML.onLargeStack {
                    let started = ConfigProperty.threadCPUTime()
                    let parsed = ConfigSource.parse(text, file: "deep.yaml")
                    return (ConfigProperty.threadCPUTime() - started, parsed.documents.count,
                            parsed.diagnostics.first.map { $0.line >= 1 && $0.column >= 1 } == true, parsed.diagnostics.map(\.description))
                }
            }
            #expect(cpu < 2, "\(text.prefix(12))… took \(cpu)s of CPU")
            #expect(documents == 0)
            #expect(located, "\(text.prefix(12)): \(diagnostics)")
        }
    }

    /// How many random inputs a run tries: KEELSON_FUZZ_ITERATIONS, else a number that keeps this
    /// suite within about 30 seconds on CI.
    static let iterations = ProcessInfo.processInfo.environment["KEELSON_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 200
    /// KEELSON_FUZZ_SEED picks another sequence of inputs (a failing one prints its seed).
    static let seed = ProcessInfo.processInfo.environment["KEELSON_FUZZ_SEED"].flatMap(UInt64.init) ?? 20_261_127

    @Test("mutated examples/shop files: located diagnostics or success, never a trap or a hang")
    func mutations() async {
        let seed = Self.seed, iterations = Self.iterations
        let failure = await onOwnThread { () -> String? in
            var generator = SeededRandom(seed: seed)
            let paths = Self.shop.keys.sorted()
            for iteration in 0..<iterations {
                var files = Self.shop
                // One to three mutations, on one or more files.
                let count = Int.random(in: 1...3, using: &generator)
                var applied: [String] = []
                for _ in 0..<count {
                    let path = paths[Int.random(in: 0..<paths.count, using: &generator)]
                    let mutation = Mutation.allCases[Int.random(in: 0..<Mutation.allCases.count, using: &generator)]
                    files[path] = mutation.apply(to: files[path]!, using: &generator)
                    applied.append("\(mutation) on \(path)")
                }
                if let violation = ConfigProperty.check(files, folder: "shop") {
                    return "seed \(seed), iteration \(iteration) (\(applied.joined(separator: ", "))): \(violation)"
                }
            }
            return nil
        }
        if let failure { Issue.record(Comment(rawValue: failure)) }
    }
}

/// The ways an input is mutated.
enum Mutation: CaseIterable {
    case flipByte, insertControl, insertNUL, insertInvalidUTF8, hugeNumber, deepNesting, longString, anchorAndAlias,
        aliasBomb, truncate, duplicateLine, tag, template

    func apply(to bytes: [UInt8], using generator: inout SeededRandom) -> [UInt8] {
        var bytes = bytes
        let at = bytes.isEmpty ? 0 : Int.random(in: 0...bytes.count, using: &generator)
        /// The start of a random line: where a new field fits.
        func lineStart() -> Int {
            let starts = [0] + bytes.indices.filter { bytes[$0] == UInt8(ascii: "\n") }.map { $0 + 1 }
            return starts[Int.random(in: 0..<starts.count, using: &generator)]
        }
        switch self {
        case .flipByte:
            guard !bytes.isEmpty else { return bytes }
            let index = Int.random(in: 0..<bytes.count, using: &generator)
            bytes[index] ^= UInt8(1) << UInt8.random(in: 0...7, using: &generator)
        case .insertControl:
            let controls: [UInt8] = [0x01, 0x07, 0x08, 0x0B, 0x0C, 0x1B, 0x7F]
            bytes.insert(controls[Int.random(in: 0..<controls.count, using: &generator)], at: at)
        case .insertNUL:
            bytes.insert(0, at: at)
        case .insertInvalidUTF8:
            let sequences: [[UInt8]] = [[0xFF], [0xC3, 0x28], [0xE2, 0x82], [0xF0, 0x28, 0x8C, 0x28], [0xED, 0xA0, 0x80]]
            bytes.insert(contentsOf: sequences[Int.random(in: 0..<sequences.count, using: &generator)], at: at)
        case .hugeNumber:
            // Replace a run of digits with a number far beyond any range.
            let numbers = ["9223372036854775807", "99999999999999999999999999", "-9223372036854775808", "1e400", "9999999999999"]
            let number = Array(numbers[Int.random(in: 0..<numbers.count, using: &generator)].utf8)
            if let start = bytes.indices.first(where: { $0 >= at && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[$0]) }) {
                var end = start
                while end < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[end]) { end += 1 }
                bytes.replaceSubrange(start..<end, with: number)
            } else {
                bytes.insert(contentsOf: Array("replicas: ".utf8) + number + [0x0A], at: lineStart())
            }
        case .deepNesting:
            let depth = [50, 150, 999, 1_200, 5_000][Int.random(in: 0..<5, using: &generator)]
            let open = Array(repeating: UInt8(ascii: Bool.random(using: &generator) ? "[" : "{"), count: depth)
            let close = open.map { $0 == UInt8(ascii: "[") ? UInt8(ascii: "]") : UInt8(ascii: "}") }
            bytes.insert(contentsOf: Array("deep: ".utf8) + open + close + [0x0A], at: lineStart())
        case .longString:
            let length = [1_000, 100_000, 1_000_000][Int.random(in: 0..<3, using: &generator)]
            bytes.insert(contentsOf: Array("name: ".utf8) + Array(repeating: UInt8(ascii: "x"), count: length) + [0x0A], at: lineStart())
        case .anchorAndAlias:
            bytes.insert(contentsOf: Array("env: &shared {A: b}\nx: *shared\ny: *nowhere\n".utf8), at: lineStart())
        case .aliasBomb:
            var bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
            for level in 1...9 { bomb += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n" }
            bytes.insert(contentsOf: Array(bomb.utf8), at: lineStart())
        case .truncate:
            bytes = Array(bytes.prefix(at))
        case .duplicateLine:
            let start = lineStart()
            let end = bytes[start...].firstIndex(of: 0x0A).map { $0 + 1 } ?? bytes.count
            bytes.insert(contentsOf: Array(bytes[start..<end]), at: end)
        case .tag:
            let tags = ["!!binary ", "!!timestamp ", "!local ", "!!set ", "!!str ", "!!int "]
            bytes.insert(contentsOf: Array(tags[Int.random(in: 0..<tags.count, using: &generator)].utf8), at: at)
        case .template:
            let templates = ["{{", "{{{", "}}", "{{#x}}", "{{parameters.version", "{{>p}}", "{{=<% %>=}}", "{{% CONTENT_TYPE: HTML}}"]
            bytes.insert(contentsOf: Array(templates[Int.random(in: 0..<templates.count, using: &generator)].utf8), at: at)
        }
        return bytes
    }
}

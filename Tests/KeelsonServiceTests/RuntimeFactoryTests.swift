import Foundation
@testable import KeelsonCompiler
import KeelsonCore
import KeelsonRuntimes
import KeelsonService
import Testing
@testable import KeelsonEngine

@Suite("Runtimes built from a recorded config")
struct RuntimeFactoryTests {
    let factory = RuntimeFactory(stateRoot: "/tmp/keelson-factory-test")
    let intent = Intent()

    func runtime(_ type: RuntimeIntent.Kind, _ settings: [String: String]) -> RuntimeIntent {
        RuntimeIntent(name: "r", type: type, labels: [:], settings: settings)
    }

    @Test("settings out of range (a config recorded before they were checked) give a runtime that cannot be built, saying why — never a trap", arguments: [
        (RuntimeIntent.Kind.local, ["ports": "19000-18000"], #"ports is "19000-18000", not a range LOW-HIGH of ports 1 to 65535"#),
        (.local, ["ports": "0-99999"], "not a range LOW-HIGH"),
        (.local, ["stopGracePeriod": "99999999999999999"], "stopGracePeriod is"),
        (.simulated, ["applyFailureRate": "nan"], "applyFailureRate is \"nan\", not a probability from 0 to 1"),
        (.simulated, ["timeToHealthy": "-1"], "timeToHealthy is \"-1\", not a number of seconds"),
        (.simulated, ["seed": "x"], "seed is \"x\""),
    ])
    func unbuildable(type: RuntimeIntent.Kind, settings: [String: String], reason: String) {
        guard case .failure(let problem) = factory.build(runtime(type, settings), in: intent) else {
            Issue.record("built a runtime from \(settings)")
            return
        }
        #expect(problem.description.hasPrefix("runtime r cannot be built: "))
        #expect(problem.reason.contains(reason), "\(problem.reason)")
        // The CLI's runtimes say so on every call instead.
        #expect(factory.make(runtime(type, settings), in: intent) is UnavailableRuntime)
    }

    @Test("good settings build the runtime; a custom runtime keeps its apply locks under the state root")
    func built() throws {
        let local = try factory.build(runtime(.local, ["ports": "19000-19010", "stopGracePeriod": "3"]), in: intent).get()
        #expect((local as? LocalProcessRuntime)?.settings.ports == 19_000...19_010)
        let custom = try factory.build(runtime(.custom, [:]), in: intent).get()
        #expect((custom as? CustomProgramRuntime)?.stateDirectory == "/tmp/keelson-factory-test/r")
    }

    @Test("an apply's timeout is its progress deadline, within 1 s … 365 d whatever a document says")
    func timeout() {
        func release(_ seconds: Int) -> ReleaseRef { ReleaseRef(version: "1", digest: "d", document: "{}", progressDeadlineSeconds: seconds) }
        #expect(Worker.timeout(release(600)) == .seconds(600))
        #expect(Worker.timeout(release(0)) == .seconds(1))
        #expect(Worker.timeout(release(-7)) == .seconds(1))
        #expect(Worker.timeout(release(.max)) == .seconds(365 * 86_400))
    }
}

import Testing

@testable import KeelsonEngine

@Suite("Deadlines: the worker's timers")
struct DeadlinesTests {
    /// A small deterministic generator (SplitMix64), so that a failure replays.
    struct Draws {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(bound))
        }
    }

    @Test("20,000 random sets, moves, removals and pops agree with a plain dictionary", arguments: [1, 2, 3] as [UInt64])
    func agreesWithModel(seed: UInt64) {
        var draws = Draws(state: seed)
        var deadlines = Deadlines<Int, Int>()
        var model: [Int: Int] = [:]
        for _ in 0..<20_000 {
            let key = draws.next(300)
            switch draws.next(10) {
            case 0..<5:
                let time = draws.next(1_000)
                deadlines.set(key, at: time)
                model[key] = time
            case 5, 6, 7:
                deadlines.remove(key)
                model[key] = nil
            case 8:
                let now = draws.next(1_000)
                #expect(deadlines.due(at: now) == model.filter { $0.value <= now }.keys.sorted())
            default:
                let now = draws.next(200)
                let expected = model.filter { $0.value <= now }.sorted { ($0.value, $0.key) < ($1.value, $1.key) }.map(\.key)
                #expect(deadlines.popDue(at: now) == expected)
                for key in expected { model[key] = nil }
            }
            #expect(deadlines.count == model.count)
            #expect(deadlines.earliest == model.values.min())
            #expect(deadlines.deadline(of: key) == model[key])
        }
    }

    @Test("ties come out by key; popFirst takes one at a time and only when due")
    func ties() {
        var deadlines = Deadlines<String, Int>()
        for key in ["c", "a", "b"] { deadlines.set(key, at: 5) }
        deadlines.set("z", at: 9)
        #expect(deadlines.popFirst(dueAt: 4) == nil)
        #expect(deadlines.popFirst(dueAt: 5) == "a")
        #expect(deadlines.popDue(at: 8) == ["b", "c"])
        #expect(deadlines.earliest == 9)
        deadlines.set("z", at: 1)
        #expect(deadlines.popDue(at: 1) == ["z"])
        #expect(deadlines.isEmpty)
    }
}

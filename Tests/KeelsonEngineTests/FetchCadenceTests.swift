import Foundation
import KeelsonCore
import KeelsonRuntimes
import Testing
@testable import KeelsonEngine

@Suite("Fetch cadence")
struct FetchCadenceTests {
    let start = Date(timeIntervalSince1970: 1_795_000_000)
    let web = ServiceInstanceID("shop/web@staging")!
    let api = ServiceInstanceID("shop/api@staging")!

    func object(version: String, health: Health = .healthy, drifted: Bool = false) -> Observation {
        Observation(objects: [ObservedObject(name: "r1", version: version, desiredReplicas: 1, readyReplicas: health == .healthy ? 1 : 0, health: health, drifted: drifted)])
    }

    @Test("stable means healthy, undrifted and on the desired version", arguments: [
        ("1.0.0", true, Health.healthy, false, true),
        ("1.0.0", true, Health.unhealthy, false, false),
        ("1.0.0", true, Health.healthy, true, false),
        ("1.1.0", true, Health.healthy, false, false),
        ("1.0.0", false, Health.healthy, false, false),
    ])
    func stable(desired: String, observed: Bool, health: Health, drifted: Bool, expected: Bool) {
        let observation = observed ? object(version: "1.0.0", health: health, drifted: drifted) : nil
        #expect(FetchCadence.isStable(desiredVersion: desired, observation: observation) == expected)
        #expect(!FetchCadence.isStable(desiredVersion: nil, observation: object(version: "1.0.0")))
    }

    @Test("settings give the intervals; the defaults are 2 s converging and 60 s stable")
    func settings() {
        #expect(FetchCadence() == FetchCadence(converging: .seconds(2), stable: .seconds(60)))
        let cadence = FetchCadence(settings: ["fetchIntervalConverging": "5", "fetchIntervalStable": "300"])
        #expect(cadence.next(after: start, stable: false) == start.addingTimeInterval(5))
        #expect(cadence.next(after: start, stable: true) == start.addingTimeInterval(300))
    }

    @Test("stable fetches of 10 s or more fall on whole seconds (fetched together), converging ones do not")
    func stableGrid() {
        let cadence = FetchCadence()
        let odd = start.addingTimeInterval(12.345)
        #expect(cadence.next(after: odd, stable: true) == start.addingTimeInterval(73))
        #expect(cadence.next(after: odd, stable: false) == odd.addingTimeInterval(2))
        #expect(cadence.next(after: start, stable: true) == start.addingTimeInterval(60))
        // Two instances fetched within the same second come due at the same moment.
        #expect(cadence.next(after: start.addingTimeInterval(0.001), stable: true) == cadence.next(after: start.addingTimeInterval(0.999), stable: true))
        // A short stable interval is kept exact; a date before 1970 rounds up too.
        let short = FetchCadence(converging: .seconds(1), stable: .seconds(5))
        #expect(short.next(after: odd, stable: true) == odd.addingTimeInterval(5))
        #expect(cadence.next(after: Date(timeIntervalSince1970: -61.5), stable: true) == Date(timeIntervalSince1970: -1))
    }

    @Test("a converging instance is fetched often, a stable one rarely; an apply brings it forward")
    func schedule() {
        var schedule = FetchSchedule(cadence: FetchCadence())
        schedule.add(web, at: start)
        schedule.add(api, at: start)
        #expect(schedule.due(at: start) == [api, web])
        schedule.fetched(web, at: start, stable: false)
        schedule.fetched(api, at: start, stable: true)
        #expect(schedule.nextWake == start.addingTimeInterval(2))
        #expect(schedule.due(at: start.addingTimeInterval(1)).isEmpty)
        #expect(schedule.due(at: start.addingTimeInterval(2)) == [web])
        #expect(schedule.due(at: start.addingTimeInterval(60)) == [api, web])
        // Over an hour: web converges for 10 s (fetched at 0, 2, … 10), then stays stable (70, 130, … 3550).
        var fetches: [ServiceInstanceID: Int] = [web: 1, api: 1]
        var now = start
        while let wake = schedule.nextWake, wake < start.addingTimeInterval(3_600) {
            now = wake
            for instance in schedule.due(at: now) {
                fetches[instance, default: 0] += 1
                schedule.fetched(instance, at: now, stable: instance == api || now >= start.addingTimeInterval(10))
            }
        }
        #expect(fetches[api] == 60)
        #expect(fetches[web] == 6 + 59)
        schedule.expedite(api, at: now)
        #expect(schedule.due(at: now).contains(api))
        // Settled while its next fetch was due by the converging cadence: by the stable one from
        // its last fetch instead; one already due later keeps its time.
        schedule.fetched(web, at: now, stable: false)
        schedule.settled(web, lastFetch: now)
        #expect(!schedule.due(at: now.addingTimeInterval(59)).contains(web))
        #expect(schedule.due(at: now.addingTimeInterval(61)).contains(web))
        schedule.fetched(web, at: now, stable: true)
        schedule.settled(web, lastFetch: now.addingTimeInterval(-50))
        #expect(!schedule.due(at: now.addingTimeInterval(59)).contains(web))
        schedule.remove(api)
        #expect(schedule.contains(web) && !schedule.contains(api) && schedule.count == 1)
    }

    @Test("intervals from a recorded config are clamped to 1 s … 365 d (a zero interval would fetch in a loop); an instance taken off the schedule does not wake it")
    func bounded() {
        let zero = FetchCadence(settings: ["fetchIntervalConverging": "0", "fetchIntervalStable": "99999999999999"])
        #expect(zero.converging == .seconds(1))
        #expect(zero.stable == .seconds(365 * 86_400))
        #expect(FetchCadence(settings: ["fetchIntervalConverging": "-5"]).converging == .seconds(1))
        var schedule = FetchSchedule(cadence: FetchCadence())
        schedule.add(web, at: start)
        schedule.fetched(api, at: start, stable: true)
        #expect(schedule.nextWake == start)
        #expect(schedule.takeFirst(dueAt: start) == web)
        #expect(schedule.takeFirst(dueAt: start) == nil)
        #expect(schedule.nextWake == start.addingTimeInterval(60))
        #expect(!schedule.contains(web))
    }
}

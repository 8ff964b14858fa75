import Foundation
import Testing

@testable import KeelsonEngine

/// Only lower bounds on time are asserted (a sleep never ends early, however loaded the machine);
/// "ends at once" is asserted as "ends well before its 60 s sleep would have".
@Suite("Wakeup: the worker's sleep")
struct WakeupTests {
    @Test("a wait ended by a signal leaves nothing behind: the next wait sleeps its time")
    func noSpareSignal() async {
        let wakeup = Wakeup()
        let clock = ContinuousClock()
        wakeup.signal()
        // Ends without sleeping (the signal was pending), then the next waits sleep their time.
        var began = clock.now
        await wakeup.wait(seconds: 60)
        #expect(clock.now - began < .seconds(60))
        for _ in 0..<3 {
            began = clock.now
            await wakeup.wait(seconds: 0.2)
            #expect(clock.now - began >= .milliseconds(190), "a wait ended early: a spare signal was left")
        }
        // A signal during a wait ends it, and the wait after it still sleeps.
        let signaller = Task {
            try? await Task.sleep(for: .milliseconds(100))
            wakeup.signal()
        }
        began = clock.now
        await wakeup.wait(seconds: 60)
        #expect(clock.now - began < .seconds(60))
        await signaller.value
        began = clock.now
        await wakeup.wait(seconds: 0.2)
        #expect(clock.now - began >= .milliseconds(190), "a wait ended early: a spare signal was left")
    }

    @Test("a waiting task that is cancelled stops waiting")
    func cancelled() async {
        let wakeup = Wakeup()
        let clock = ContinuousClock()
        let began = clock.now
        let waiting = Task { await wakeup.wait(seconds: 60) }
        try? await Task.sleep(for: .milliseconds(100))
        waiting.cancel()
        await waiting.value
        #expect(clock.now - began < .seconds(60))
    }
}

import Foundation
import Testing

@testable import KeelsonEngine

@Suite("Wakeup: the worker's sleep")
struct WakeupTests {
    @Test("a wait ended by a signal leaves nothing behind: the next wait sleeps its time")
    func noSpareSignal() async {
        let wakeup = Wakeup()
        let clock = ContinuousClock()
        wakeup.signal()
        // Ends at once (the signal was pending), then the next waits sleep their time.
        var began = clock.now
        await wakeup.wait(seconds: 5)
        #expect(clock.now - began < .seconds(2))
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
        await wakeup.wait(seconds: 5)
        #expect(clock.now - began < .seconds(2))
        await signaller.value
        began = clock.now
        await wakeup.wait(seconds: 0.2)
        #expect(clock.now - began >= .milliseconds(190))
    }

    @Test("a waiting task that is cancelled stops waiting")
    func cancelled() async {
        let wakeup = Wakeup()
        let clock = ContinuousClock()
        let began = clock.now
        let waiting = Task { await wakeup.wait(seconds: 30) }
        try? await Task.sleep(for: .milliseconds(100))
        waiting.cancel()
        await waiting.value
        #expect(clock.now - began < .seconds(5))
    }
}

import Foundation
import KeelsonCore
import Testing
@testable import KeelsonStore

@Suite("Leases")
struct LeaseTests {
    @Test("leases are taken, refused while another holds them, taken over once expired; a bulk renewal extends only the named leases the owner still holds")
    func acquireAndRenew() async throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        let keys = ["instance:shop/web@prod", "instance:shop/web@staging", "instance:shop/api@prod"]
        let taken = try await store.acquireLeases(keys, owner: "worker:a", nowMilliseconds: 1_000, expiresAtMilliseconds: 31_000)
        #expect(keys.allSatisfy { taken[$0] == .acquired(previousOwner: nil) })
        let refused = try await store.acquireLeases([keys[0]], owner: "worker:b", nowMilliseconds: 2_000, expiresAtMilliseconds: 32_000)
        #expect(refused[keys[0]] == .heldBy(owner: "worker:a", untilMilliseconds: 31_000))
        // Once expired, b takes one over; a's name lease (another prefix) is not an instance's.
        let tookOver = try await store.acquireLeases([keys[2]], owner: "worker:b", nowMilliseconds: 40_000, expiresAtMilliseconds: 70_000)
        #expect(tookOver[keys[2]] == .acquired(previousOwner: "worker:a"))
        _ = try await store.acquireLeases(["worker:worker:a"], owner: "worker:a", nowMilliseconds: 40_000, expiresAtMilliseconds: 70_000)

        // a asks for all three and its name's: it holds two of them still; its name's lease is
        // not named, so not touched.
        let renewed = try await store.renewLeases(keys, owner: "worker:a", expiresAtMilliseconds: 90_000)
        #expect(renewed == Set(keys[0...1]))
        #expect(try await store.acquireLeases(["worker:worker:a"], owner: "worker:z", nowMilliseconds: 75_000, expiresAtMilliseconds: 80_000)
            == ["worker:worker:a": .acquired(previousOwner: "worker:a")])
        let after = try await store.acquireLeases(keys, owner: "worker:c", nowMilliseconds: 80_000, expiresAtMilliseconds: 110_000)
        #expect(after[keys[0]] == .heldBy(owner: "worker:a", untilMilliseconds: 90_000))
        #expect(after[keys[1]] == .heldBy(owner: "worker:a", untilMilliseconds: 90_000))
        #expect(after[keys[2]] == .acquired(previousOwner: "worker:b"))
        #expect(try await store.renewLeases(keys, owner: "worker:nobody", expiresAtMilliseconds: 1).isEmpty)
        #expect(try await store.renewLeases([], owner: "worker:a", expiresAtMilliseconds: 1).isEmpty)
    }
}

import Foundation
import KeelsonCore
import KeelsonStore

/// Leases: the worker's name, held by its process, and one lease per instance it acts on.
extension Worker {
    /// Takes or renews the lease on the worker's name, as this process. A holder on this machine
    /// that is gone loses it at once, whatever its expiry; one that lives keeps it, whatever its
    /// expiry; one elsewhere keeps it until it expires.
    func claimName(now: Int64) async throws -> LeaseOutcome {
        let until = now.adding(saturating: settings.leaseDuration.milliseconds)
        let outcome = try await store.claimLease(
            "worker:\(settings.name)", owner: identity.text, nowMilliseconds: now, expiresAtMilliseconds: until
        ) { holder, expired in
            guard let other = WorkerIdentity(text: holder) else { return expired }
            return other.isGone ?? expired
        }
        switch outcome {
        case .renewed, .acquired:
            if nameUntil == nil { LiveWorkers.shared.insert(identity.text) }
            nameUntil = until
        case .heldBy:
            nameUntil = nil
            LiveWorkers.shared.remove(identity.text)
        }
        return outcome
    }

    /// Takes or renews the worker's name, and the leases of `wanted` that need it — and, every
    /// half lease, renews every lease it holds; records a `LeaseAcquired` for each instance that
    /// changed hands. Returns the instances of `wanted` this worker holds now (none while another
    /// process holds its name). An instance another worker holds is asked about again when that
    /// lease runs out.
    func holdLeases(_ wanted: Set<ServiceInstanceID>, now: Int64) async throws -> Set<ServiceInstanceID> {
        let duration = settings.leaseDuration.milliseconds
        let renewAt = now.adding(saturating: duration / 2)
        if (nameUntil ?? 0) < renewAt {
            let hadName = nameUntil != nil
            if case .heldBy(let holder, _) = try await claimName(now: now) {
                leaseUntil.removeAll()
                renewLeasesAt = .max
                if hadName {
                    settings.onProblem("\(settings.name): another process (\(WorkerIdentity(text: holder)?.description ?? holder)) "
                        + "took this worker's name while it could not renew it; this worker acts on nothing until the name is free again")
                }
                return []
            }
        }
        // Every half lease, the leases held are renewed together (the only pass that scans them);
        // one that another worker took meanwhile (it had expired) is dropped.
        let renewingAll = now >= renewLeasesAt
        if renewingAll, !leaseUntil.isEmpty {
            let until = now.adding(saturating: duration)
            let held = leaseUntil.keys.map { (id: $0, key: "instance:\($0)") }
            let renewed = try await store.renewLeases(held.map(\.key), owner: settings.name, expiresAtMilliseconds: until)
            for (id, key) in held { leaseUntil[id] = renewed.contains(key) ? until : nil }
        }
        let needing = wanted.filter { (leaseUntil[$0] ?? 0) < renewAt && (heldElsewhere[$0] ?? 0) <= now }
        if !needing.isEmpty {
            let until = now.adding(saturating: duration)
            let ids = needing.sortedByDescription()
            let outcomes = try await store.acquireLeases(
                ids.map { "instance:\($0)" }, owner: settings.name, nowMilliseconds: now, expiresAtMilliseconds: until)
            var changes: [StreamAppend] = []
            var took = false
            for id in ids {
                switch outcomes["instance:\(id)"] {
                case .renewed?:
                    leaseUntil[id] = until
                    took = true
                case .acquired(let previous)?:
                    leaseUntil[id] = until
                    took = true
                    heldElsewhere[id] = nil
                    changes.append(StreamAppend(
                        stream: .instance(id),
                        events: [try NewEvent(LeaseAcquired(instance: id, worker: settings.name, previousOwner: previous), actor: settings.name)]))
                case .heldBy(_, let heldUntil)?:
                    leaseUntil[id] = nil
                    heldElsewhere[id] = heldUntil
                    schedule.remove(id)
                    timers.set(id, at: heldUntil)
                case nil:
                    leaseUntil[id] = nil
                }
            }
            // A lease taken now needs renewing half a lease from now, if nothing needs it sooner.
            if took { renewLeasesAt = min(renewLeasesAt, until - duration / 2) }
            if !changes.isEmpty {
                try await foldAppended(changes, try await store.append(changes))
            }
        }
        if renewingAll {
            renewLeasesAt = leaseUntil.values.min().map { $0 - duration / 2 } ?? .max
        }
        return wanted.filter { (leaseUntil[$0] ?? 0) > now }
    }
}

import ArgumentParser
import Foundation
import KeelsonCompiler
import KeelsonCore
import KeelsonService

/// Options of `release --wait` and `apply --wait`.
struct WaitOptions: ParsableArguments {
    @Flag(help: "Follow the rollout until every instance has converged on it, failed, or --timeout passed (exit 0, 1, 2). Needs a worker running.")
    var wait = false

    /// Parsed while the command line is read: a bad value stops the command before it records
    /// anything (it used to fail only after the release was recorded).
    @Option(help: ArgumentHelp("With --wait: give up after this long (e.g. 30m; at most 365d).", valueName: "duration"),
            transform: DurationArgument.parse)
    var timeout = DurationArgument("30m")

    func seconds() throws -> Int { timeout.seconds }
}

/// Follows a rollout in the log: prints each instance's status as it changes (what the worker
/// decides), until every instance is converged on its release (exit 0), one of them failed, was
/// rolled back or rejected (exit 1), or the timeout passed (exit 2).
struct RolloutWaiter {
    let api: any KeelsonAPI
    /// Instance → the release it should converge on.
    let targets: [String: String]
    let timeout: Duration
    /// Failures are read only from decisions after this position (the release's), so an old
    /// rollback does not end a retry at once.
    let after: Int64

    enum Outcome { case converged, failed, timedOut }

    func run() async throws -> Outcome {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var shown: [String: String] = [:]
        var shownProgress = ""
        var lastPosition = (try? await api.lastPosition()) ?? 0
        var quietSince = clock.now
        var hinted = false
        var unreachable = false
        fflush(nil)  // what `print` buffered so far comes first
        emit("waiting for \(targets.count) instance(s) to converge (timeout \(Text.duration(Int64(timeout.components.seconds) * 1000)))…")
        while true {
            let rows: [String: InstanceStatusEntry]
            let order: [String: [String]]
            do {
                let status = try await api.status(scope: nil)
                rows = Dictionary(uniqueKeysWithValues: status.instances.map { ($0.instance, $0) })
                order = status.channels ?? [:]
                if unreachable { emit("  (\(api.location) answers again)") }
                unreachable = false
            } catch let error as APIError where error.status < 500 {
                throw error
            } catch {
                // A server restarting: keep waiting until the timeout.
                if !unreachable { emit("  (lost \(api.location): \(error); retrying until the timeout)") }
                unreachable = true
                if clock.now >= deadline {
                    emit("timed out")
                    return .timedOut
                }
                try await Task.sleep(for: .seconds(1))
                continue
            }
            var done = 0
            var failed: [String] = []
            for instance in targets.keys.sorted() {
                let version = targets[instance]!
                guard let row = rows[instance] else { continue }
                let line = "\(row.status)\(row.waitingFor.map { " (\($0))" } ?? ""): \(row.reason)"
                if shown[instance] != line {
                    emit("  \(instance)  \(line)")
                    shown[instance] = line
                }
                // Converged on the release itself (a rollback converges on another one).
                if row.status == InstanceStatus.converged.rawValue && row.decisionVersion == version && row.current == [version] {
                    done += 1
                }
                // Failed, rejected or rolled back because of it, or rolling back to another release.
                let failedHere = ["failed", "rejected", "rolledBack"].contains(row.status) && row.decisionVersion == version
                let rolledBack = ["rollingBack", "rolledBack"].contains(row.status) && row.targetIsRollback && row.target != version
                if (failedHere || rolledBack) && row.decisionPosition > after { failed.append(instance) }
            }
            let progress = Self.progress(targets: targets, rows: rows, order: order)
            if progress != shownProgress {
                emit("  ── \(progress)")
                shownProgress = progress
            }
            if !failed.isEmpty {
                for line in Self.failure(targets: targets, rows: rows) { emit(line) }
                return .failed
            }
            if done == targets.count {
                emit("converged: \(targets.count) of \(targets.count) instance(s)")
                return .converged
            }
            if clock.now >= deadline {
                emit("timed out: \(done) of \(targets.count) instance(s) converged")
                return .timedOut
            }
            // No decision for a while: say what might be missing.
            let position = (try? await api.lastPosition()) ?? lastPosition
            if position != lastPosition { lastPosition = position; quietSince = clock.now }
            if !hinted, clock.now - quietSince > .seconds(15) {
                emit("  (nothing has happened for 15 s: is a worker running? `keelson serve` or `keelson worker`)")
                hinted = true
            }
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    /// One line per rollout: each channel in promotion order with how many of its instances have
    /// converged on the release, and what the others are doing, e.g.
    /// `staging ✓ 2/2 · canary 1/2 converging · prod-eu 0/2 waiting (approval)`.
    static func progress(targets: [String: String], rows: [String: InstanceStatusEntry], order: [String: [String]]) -> String {
        var byChannel: [String: [(instance: String, version: String)]] = [:]
        for (instance, version) in targets {
            byChannel[String(instance.split(separator: "@").last ?? ""), default: []].append((instance, version))
        }
        let ranked = order.keys.sorted().flatMap { order[$0]! }
        let channels = byChannel.keys.sorted { (ranked.firstIndex(of: $0) ?? Int.max, $0) < (ranked.firstIndex(of: $1) ?? Int.max, $1) }
        return channels.map { channel in
            let members = byChannel[channel]!.sorted { $0.instance < $1.instance }
            let done = members.filter { member in
                guard let row = rows[member.instance] else { return false }
                return row.status == InstanceStatus.converged.rawValue && row.decisionVersion == member.version && row.current == [member.version]
            }.count
            if done == members.count { return "\(channel) ✓ \(done)/\(members.count)" }
            let busy = members.compactMap { rows[$0.instance] }.first { $0.status != InstanceStatus.converged.rawValue }
            // Converged on another release: the one asked for is held back there (marked bad elsewhere).
            let heldBack = members.contains { member in
                rows[member.instance].map { $0.status == InstanceStatus.converged.rawValue && $0.decisionVersion != member.version } ?? false
            }
            let state = busy.map { $0.status + ($0.waitingFor.map { " (\($0))" } ?? "") } ?? (heldBack ? "held back" : "pending")
            return "\(channel) \(done)/\(members.count) \(state)"
        }.joined(separator: " · ")
    }

    /// Where a failed rollout failed, and what every other instance did: rolled back, failed
    /// there, rejected, held back (never applied: the release is marked bad elsewhere), or
    /// converged.
    static func failure(targets: [String: String], rows: [String: InstanceStatusEntry]) -> [String] {
        var groups: [(String, [String])] = []
        func add(_ what: String, _ instance: String) {
            if let index = groups.firstIndex(where: { $0.0 == what }) { groups[index].1.append(instance) } else { groups.append((what, [instance])) }
        }
        for instance in targets.keys.sorted() {
            let version = targets[instance]!
            guard let row = rows[instance] else { add("no status yet", instance); continue }
            let appliedHere = row.target == version && !row.targetIsRollback
            if row.targetIsRollback, row.target != version, ["rollingBack", "rolledBack"].contains(row.status) {
                add(row.status == "rolledBack" ? "rolled back to \(row.target ?? "?")" : "rolling back to \(row.target ?? "?")", instance)
            } else if row.status == "failed" && appliedHere {
                add("failed here", instance)
            } else if row.status == "rejected" {
                add("rejected", instance)
            } else if row.status == InstanceStatus.converged.rawValue && row.current == [version] {
                add("converged on \(version)", instance)
            } else if !appliedHere && row.current != [version] {
                add("held back, \(version) never applied" + (row.current.isEmpty ? "" : " (runs \(row.current.joined(separator: ", ")))"), instance)
            } else {
                add("\(row.status)", instance)
            }
        }
        let version = Set(targets.values).sorted().joined(separator: ", ")
        func isOrigin(_ what: String) -> Bool {
            what.hasPrefix("rolled back") || what.hasPrefix("rolling back") || what == "failed here" || what == "rejected"
        }
        groups = groups.filter { isOrigin($0.0) } + groups.filter { !isOrigin($0.0) }
        let origin = groups.filter { $0.0.hasPrefix("rolled back") || $0.0.hasPrefix("rolling back") || $0.0 == "failed here" || $0.0 == "rejected" }
        let headline = origin.isEmpty
            ? "rollout of \(version) failed elsewhere: it is marked bad"
            : "rollout of \(version) failed in \(origin.flatMap(\.1).joined(separator: ", "))"
        return [headline] + groups.map { "  \($0.0): \($0.1.joined(separator: ", "))" }
    }

    /// Exits with the outcome's code (0 converged, 1 failed, 2 timed out).
    static func exit(_ outcome: Outcome) throws {
        switch outcome {
        case .converged: return
        case .failed: throw ExitCode(1)
        case .timedOut: throw ExitCode(2)
        }
    }
}

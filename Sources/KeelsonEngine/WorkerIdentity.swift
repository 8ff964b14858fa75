import Foundation
import KeelsonRuntimes
import KeelsonStore

#if canImport(Glibc)
import Glibc
#endif

/// Which running worker holds a worker name: its host, the host's boot, its pid and the process's
/// start time — a pid alone is reused, the pair is not — and a nonce that tells two workers of one
/// process apart. Kept as the owner of the name's lease, so that a worker restarted under the same
/// name can tell its dead predecessor (take the name at once) from a live namesake (refuse).
struct WorkerIdentity: Hashable, Sendable, CustomStringConvertible {
    var host: String
    var boot: String
    var pid: Int32
    var startTime: UInt64
    var nonce: String

    /// This process, with a fresh nonce.
    static func current() -> WorkerIdentity {
        let pid = getpid()
        return WorkerIdentity(
            host: hostName, boot: bootID, pid: pid, startTime: ProcessTable.startTime(of: pid) ?? 0,
            nonce: String(UUID().uuidString.prefix(8)).lowercased())
    }

    /// As stored in the lease: `host|boot|pid|start|nonce`.
    var text: String { "\(host)|\(boot)|\(pid)|\(startTime)|\(nonce)" }

    init(host: String, boot: String, pid: Int32, startTime: UInt64, nonce: String) {
        self.host = host
        self.boot = boot
        self.pid = pid
        self.startTime = startTime
        self.nonce = nonce
    }

    init?(text: String) {
        let parts = text.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 5, let pid = Int32(parts[2]), let start = UInt64(parts[3]) else { return nil }
        self.init(host: parts[0], boot: parts[1], pid: pid, startTime: start, nonce: parts[4])
    }

    var description: String { "process \(pid) on \(host)" }

    /// Whether the holder is known to be gone: it ran on this machine since its last boot and its
    /// process is no longer there (or, in this very process, that worker has stopped). A holder on
    /// another machine cannot be checked: nil.
    var isGone: Bool? {
        guard host == Self.hostName, boot == Self.bootID, startTime != 0 else { return nil }
        guard ProcessTable.isRunning(pid, startedAt: startTime) else { return true }
        return pid == getpid() ? !LiveWorkers.shared.contains(text) : false
    }

    /// The host's name (`gethostname`, no DNS).
    static let hostName: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        let name = String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "|", with: "_")
        return name.isEmpty ? "localhost" : name
    }()

    /// The kernel's id of this boot: pids and start times are comparable only within one boot.
    static let bootID: String = {
        let text = (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)) ?? ""
        return text.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "|", with: "_")
    }()
}

/// The workers of this process that hold their name (started, not stopped): two in one process
/// share a pid, so only this tells whether a namesake in the same process is alive.
final class LiveWorkers: @unchecked Sendable {
    static let shared = LiveWorkers()
    private let lock = NSLock()
    private var identities: Set<String> = []

    func insert(_ identity: String) { lock.withLock { _ = identities.insert(identity) } }
    func remove(_ identity: String) { lock.withLock { _ = identities.remove(identity) } }
    func contains(_ identity: String) -> Bool { lock.withLock { identities.contains(identity) } }
}

extension Worker {
    /// The workers running on `store` now: those that hold their name — a name lease that has not expired, held by
    /// a process not known to be gone — each as its name and who holds it ("process 4242 on vm").
    public static func workers(on store: EventStore, nowMilliseconds: Int64) async throws -> [(name: String, holder: String)] {
        try await store.leases()
            .filter { $0.key.hasPrefix("worker:") && $0.expiresAtMilliseconds > nowMilliseconds }
            .compactMap { lease -> (name: String, holder: String)? in
                let identity = WorkerIdentity(text: lease.owner)
                if identity?.isGone == true { return nil }
                return (String(lease.key.dropFirst("worker:".count)), identity?.description ?? lease.owner)
            }
            .sorted { $0.name < $1.name }
    }
}

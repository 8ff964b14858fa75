import Foundation
import KeelsonCore
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// One instance's apply lock: an exclusive `flock(2)` on a file of the runtime's state directory.
///
/// A lock, not a pid file, because the kernel keeps it exactly as long as a process has the file
/// open, and releases it when the last one closes it or dies — whoever started them, even a worker
/// killed since. The local runtime holds it in the worker while it applies (two workers sharing a
/// state directory take turns). The custom runtime also gives the file to the apply program as its
/// stdin: the lock then lasts as long as the program, or anything it started that keeps its stdin,
/// still runs — so a re-issued apply starts only once the previous run has ended.
///
/// A previous run still holding the lock past its deadline (`KEELSON_DEADLINE_MS` in its
/// environment, plus `overdueGrace`) was left by a worker that is no longer there to stop it: its
/// processes that carry this lock's marker (`KEELSON_APPLY_LOCK`) are stopped as its worker would
/// have — SIGTERM to their process group, SIGKILL a second later.
final class ApplyLock: @unchecked Sendable {
    let path: String
    private var descriptor: Int32

    /// How long past its deadline a previous run may hold the lock before it is stopped.
    static let overdueGrace: Duration = .seconds(5)
    /// How often a held lock is tried again.
    static let retryInterval: Duration = .milliseconds(100)

    struct Problem: Error, CustomStringConvertible {
        var description: String
    }

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    /// The lock file of `instance` under `directory`: `<directory>/<app>/<service>@<channel>.lock`.
    static func path(in directory: String, for instance: ServiceInstanceID) -> String {
        URL(fileURLWithPath: directory, isDirectory: true).appendingPathComponent(instance.application, isDirectory: true)
            .appendingPathComponent("\(instance.service)@\(instance.channel).lock").path
    }

    /// Takes the lock, waiting (at most until `deadline`) for whoever holds it; with
    /// `stopOverdue`, a previous run past its own deadline is stopped meanwhile.
    static func acquire(_ path: String, until deadline: ContinuousClock.Instant, stopOverdue: Bool) async -> Result<ApplyLock, Problem> {
        let clock = ContinuousClock()
        do {
            try FileManager.default.createDirectory(
                atPath: FilePaths.parent(path), withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
        } catch {
            return .failure(Problem(description: "cannot create the apply lock \(path): \(error.localizedDescription)"))
        }
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            return .failure(Problem(description: "cannot open the apply lock \(path): \(String(cString: strerror(errno)))"))
        }
        var stopping: [Int32: ContinuousClock.Instant] = [:]
        var lastScan: ContinuousClock.Instant?
        while true {
            if flock(descriptor, LOCK_EX | LOCK_NB) == 0 { return .success(ApplyLock(path: path, descriptor: descriptor)) }
            guard errno == EWOULDBLOCK || errno == EINTR else {
                let reason = String(cString: strerror(errno))
                close(descriptor)
                return .failure(Problem(description: "cannot lock \(path): \(reason)"))
            }
            if clock.now >= deadline || Task.isCancelled {
                close(descriptor)
                let holders = ProcessTable.holders(of: path).map { "pid \($0.pid) (\(ProcessTable.command(of: $0.pid)))" }
                return .failure(Problem(description: (Task.isCancelled ? "cancelled while " : "")
                    + "waiting for the previous run to end: "
                    + (holders.isEmpty ? "its lock \(path) is held" : holders.joined(separator: ", ") + " still hold its lock \(path)")))
            }
            if stopOverdue, lastScan.map({ clock.now - $0 >= .seconds(1) }) ?? true {
                lastScan = clock.now
                stopOverdueHolders(of: path, stopping: &stopping, now: clock.now)
            }
            try? await Task.sleep(for: retryInterval)
        }
    }

    /// Signals the holders of the lock that belong to a run past its deadline: SIGTERM to their
    /// process group first, SIGKILL once they had a second.
    private static func stopOverdueHolders(of path: String, stopping: inout [Int32: ContinuousClock.Instant], now: ContinuousClock.Instant) {
        let wallNow = Date().millisecondsSince1970
        for holder in ProcessTable.holders(of: path) {
            guard holder.environment["KEELSON_APPLY_LOCK"] == path,
                let deadline = holder.environment["KEELSON_DEADLINE_MS"].flatMap(Int64.init),
                wallNow > deadline.adding(saturating: overdueGrace.milliseconds),
                let status = ProcessTable.status(of: holder.pid), status.startTime == holder.startTime
            else { continue }
            // A run leads a group of its own; never signal this process's group.
            let ownGroup = status.group == getpgrp()
            if let since = stopping[holder.pid] {
                if now - since >= .seconds(1) {
                    if !ownGroup { kill(-status.group, SIGKILL) }
                    kill(holder.pid, SIGKILL)
                }
            } else {
                stopping[holder.pid] = now
                if !ownGroup { kill(-status.group, SIGTERM) }
                kill(holder.pid, SIGTERM)
            }
        }
    }

    /// The lock file holding `text`, as a new descriptor positioned at its start, for a program's
    /// stdin: whoever has it open holds the lock too.
    func input(_ text: String) throws -> FileDescriptor {
        let bytes = Array(text.utf8)
        guard ftruncate(descriptor, 0) == 0 else { throw Problem(description: "cannot write \(path): \(String(cString: strerror(errno)))") }
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, off_t(written)) }
            guard count > 0 else { throw Problem(description: "cannot write \(path): \(String(cString: strerror(errno)))") }
            written += count
        }
        let copy = fcntl(descriptor, F_DUPFD_CLOEXEC, 0)
        guard copy >= 0 else { throw Problem(description: "cannot use \(path): \(String(cString: strerror(errno)))") }
        // The copy shares the file offset: every attempt of a retried program reads from the start.
        lseek(copy, 0, SEEK_SET)
        return FileDescriptor(rawValue: copy)
    }

    /// Gives up this process's hold (a program that still has the file keeps the lock).
    func release() {
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
    }

    deinit { release() }
}

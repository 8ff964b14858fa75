import KeelsonCore
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the kernel says about processes and ports (Linux `/proc`). A pid alone is not an
/// identity — pids are reused — so every check pairs it with the process's start time.
public enum ProcessTable {
    /// The process's start time in clock ticks since boot (`/proc/PID/stat` field 22), or nil when
    /// there is no such process or it has exited and awaits reaping (a zombie).
    public static func startTime(of pid: Int32) -> UInt64? {
        guard pid > 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // After "pid (comm)": state is field 3, start time field 22.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19, fields[0] != "Z", fields[0] != "X" else { return nil }
        return UInt64(fields[19])
    }

    /// Whether `pid`, a child of this process, has exited and awaits reaping (a zombie).
    static func hasExited(_ pid: Int32) -> Bool {
        guard pid > 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(after: close)...].split(separator: " ").first
        return state == "Z" || state == "X"
    }

    /// Whether `pid` is alive and still the process that started at `startTime`.
    public static func isRunning(_ pid: Int32, startedAt startTime: UInt64) -> Bool {
        startTime != 0 && self.startTime(of: pid) == startTime
    }

    /// What `/proc/PID/stat` says of a live (not zombie) process: its process group, session and
    /// start time.
    static func status(of pid: Int32) -> (group: Int32, session: Int32, startTime: UInt64)? {
        guard pid > 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // After "pid (comm)": state, ppid, pgrp, session, … start time (field 22).
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19, fields[0] != "Z", fields[0] != "X", let group = Int32(fields[2]), let session = Int32(fields[3]),
            let start = UInt64(fields[19])
        else { return nil }
        return (group, session, start)
    }

    /// Every pid in `/proc`, sorted.
    static func pids() -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }.sorted()
    }

    /// A process's environment as it was started (`/proc/PID/environ`; readable for our own
    /// processes only), or nil.
    static func environment(of pid: Int32) -> [String: String]? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return nil }
        var environment: [String: String] = [:]
        for entry in data.split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            guard let equals = text.firstIndex(of: "=") else { continue }
            environment[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        return environment
    }

    /// A process found by its environment: its pid and start time (an identity, unlike the pid).
    struct Found: Hashable {
        var pid: Int32
        var startTime: UInt64
        var environment: [String: String]
    }

    /// The session leaders (a replica leads its own session) whose environment holds every pair
    /// of `markers`. Processes of other users cannot be read, and are not ours.
    static func sessionLeaders(withEnvironment markers: [String: String]) -> [Found] {
        pids().compactMap { pid in
            guard let status = status(of: pid), status.session == pid, let environment = environment(of: pid),
                markers.allSatisfy({ environment[$0.key] == $0.value })
            else { return nil }
            return Found(pid: pid, startTime: status.startTime, environment: environment)
        }
    }

    /// The processes (other than this one) that have the file at `path` open, on any descriptor.
    static func holders(of path: String) -> [Found] {
        var target = stat()
        guard stat(path, &target) == 0 else { return [] }
        let me = getpid()
        return pids().compactMap { pid in
            guard pid != me, let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") else { return nil }
            let holds = descriptors.contains { descriptor in
                var info = stat()
                return stat("/proc/\(pid)/fd/\(descriptor)", &info) == 0 && info.st_dev == target.st_dev && info.st_ino == target.st_ino
            }
            guard holds, let status = status(of: pid) else { return nil }
            return Found(pid: pid, startTime: status.startTime, environment: environment(of: pid) ?? [:])
        }
    }

    /// A process's command name (`/proc/PID/comm`), for messages.
    static func command(of pid: Int32) -> String {
        ((try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? "?").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Sends `signal` to the process group led by `pid` (replicas lead their own session).
    @discardableResult
    static func signalGroup(_ pid: Int32, _ signal: Int32) -> Bool {
        kill(-pid, signal) == 0 || kill(pid, signal) == 0
    }

    /// Whether a TCP listener could take `port` on any address (nobody holds it).
    static func portIsFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        // As servers do: connections of a stopped replica lingering in TIME_WAIT do not make the
        // port taken; a listener does.
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = INADDR_ANY
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    /// Connects to 127.0.0.1:`port` within `timeout`; nil on success, else why not.
    static func connect(port: Int, timeout: Duration) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return "socket: \(String(cString: strerror(errno)))" }
        defer { close(fd) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let started = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if started == 0 { return nil }
        guard errno == EINPROGRESS else { return "connect to port \(port): \(String(cString: strerror(errno)))" }
        var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        let milliseconds = Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        guard poll(&poller, 1, milliseconds) == 1 else { return "connect to port \(port): no answer within \(timeout.short)" }
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
        return error == 0 ? nil : "connect to port \(port): \(String(cString: strerror(error)))"
    }

    /// The absolute path of `command`: as given when it holds a slash (relative to `directory`),
    /// else the first match on `PATH`. Nil when there is no executable file there.
    static func executable(_ command: String, in directory: String?, path: String?) -> String? {
        let manager = FileManager.default
        if command.contains("/") {
            let full = command.hasPrefix("/") ? command : FilePaths.join(directory ?? manager.currentDirectoryPath, command)
            let absolute = FilePaths.standardized(full, from: manager.currentDirectoryPath)
            return manager.isExecutableFile(atPath: absolute) ? absolute : nil
        }
        for directory in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(directory)/\(command)"
            var isDirectory: ObjCBool = false
            if manager.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue,
                manager.isExecutableFile(atPath: candidate)
            {
                return candidate
            }
        }
        return nil
    }

    /// The last `limit` bytes of a file, as text (for failure messages).
    static func tail(of path: String, limit: Int = 2_048) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > UInt64(limit) ? size - UInt64(limit) : 0)
        let data = (try? handle.readToEnd()) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

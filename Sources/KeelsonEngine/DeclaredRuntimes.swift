import Foundation
import KeelsonCore
import KeelsonRuntimes

/// A runtime that the config in force declares, as a worker needs it: its name, the settings its
/// fetch cadence reads, and how to build it. The engine never parses a config: whoever starts a
/// worker says how the runtimes of a recorded `ConfigApplied` are read (`RuntimeDeclarations`;
/// KeelsonService's `ConfigRuntimes` parses the recorded files).
public struct DeclaredRuntime: Sendable {
    /// Why a declared runtime cannot be built (a recorded config is read again without trusting
    /// it: it may predate a check, or hold a value out of range).
    public struct Problem: Error, Sendable, Hashable, CustomStringConvertible {
        public var runtime: String
        public var reason: String
        public var description: String { "runtime \(runtime) cannot be built: \(reason)" }

        public init(runtime: String, reason: String) {
            self.runtime = runtime
            self.reason = reason
        }
    }

    public var name: String
    /// The declaration's settings (`fetchIntervalConverging`, `fetchIntervalStable`, …).
    public var settings: [String: String]
    /// Equal for equal declarations: a runtime whose declaration did not change is kept when a
    /// new config is applied (a simulated one holds its state).
    public var declaration: String
    /// Builds it, keeping its state under `stateRoot`; `clock` is the simulated runtime's.
    public var build: @Sendable (_ stateRoot: String, _ clock: @escaping @Sendable () -> Date) -> Result<any Runtime, Problem>

    public init(
        name: String, settings: [String: String], declaration: String,
        build: @escaping @Sendable (_ stateRoot: String, _ clock: @escaping @Sendable () -> Date) -> Result<any Runtime, Problem>
    ) {
        self.name = name
        self.settings = settings
        self.declaration = declaration
        self.build = build
    }
}

/// Reads the runtimes a recorded config declares.
public protocol RuntimeDeclarations: Sendable {
    /// The runtimes `config` declares; nil when it cannot be read.
    func runtimes(of config: ConfigApplied) -> [DeclaredRuntime]?
}

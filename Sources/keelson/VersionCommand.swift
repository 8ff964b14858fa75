import ArgumentParser
import KeelsonCore
import KeelsonMigrations
import KeelsonStore

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print the Keelson version, the schema it writes and the SQLite it links.")

    @OptionGroup var format: OutputOptions

    func run() throws {
        let sqlite = EventStore.sqliteVersion
        let schema = schemaMigrations.last?.name ?? "-"
        switch format.output {
        case .json, .yaml:
            try printStructured(["keelson": KeelsonVersion.current, "schema": schema, "sqlite": sqlite], format.output)
        case .table:
            print("keelson \(KeelsonVersion.current) (schema \(schema), SQLite \(sqlite))")
        }
    }
}

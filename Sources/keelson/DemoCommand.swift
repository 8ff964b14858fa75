import ArgumentParser
import Foundation
import KeelsonCompiler
import KeelsonCore
import KeelsonEngine
import KeelsonService
import KeelsonStore

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Apply examples/shop, release shop/web, run it for real on staging, and show what the log holds.",
        discussion: """
            Applies the example config (-f, default examples/shop), releases shop/web with the next \
            patch version, applies it to shop/web@staging on the local-process runtime (a real \
            Python web service on 127.0.0.1), then prints what it observes, the latest events, the \
            desired states and `keelson db check`. Running it again releases the next version and \
            replaces the running replica with it. The replica keeps running after the demo: stop it \
            with `keelson runtime remove shop/web@staging`. `keelson worker` promotes releases through \
            the channels; `keelson up` will replace this command.
            """
    )

    @Option(name: [.short, .customLong("file")], help: ArgumentHelp("The config to apply.", valueName: "path"), transform: StoreOptions.parsePath)
    var file = "examples/shop"

    @OptionGroup var store: FileStoreOptions

    func run() async throws {
        guard FileManager.default.fileExists(atPath: file) else {
            throw ValidationError("no config at \(BoundedInput.printable(file, limit: 1000)): run this from the repository root, or give -f PATH")
        }
        let store = try store.open(.write(create: true))
        let control = ControlPlane(store: store)
        print("$ keelson apply -f \(file)")
        try ChangeReport.print(try await control.applyConfig(path: file, dryRun: false, actor: "demo"), format: .table, dryRun: false)

        let round = try await store.events(EventFilter(stream: "service:shop/web", types: [ReleaseRequested.eventType])).count
        let version = "1.4.\(round + 1)"
        print("\n$ keelson release shop/web --version \(version)")
        let released = try await control.release(ReleaseBody(application: "shop", service: "web", version: version), actor: "demo")
        try ChangeReport.print(released, format: .table, dryRun: false)

        print("\n$ keelson runtime apply shop/web@staging")
        do {
            try await RuntimeApply.parse(["shop/web@staging", "--db", store.path]).run()
        } catch {
            print("(the apply failed: the demo goes on)")
        }
        print("\n$ keelson get desired shop/web")
        try await GetDesired.parse(["shop/web", "--db", store.path]).run()
        print("\n$ keelson streams")
        try await StreamsCommand.parse(["--db", store.path]).run()
        print("\n$ keelson events --limit 6")
        print(EventTable.render(try await store.events(EventFilter(limit: 6, latest: true)), header: true))
        print("\n$ keelson db check")
        try await CheckDatabase.parse(["--db", store.path]).run()
        print("""

            shop/web@staging keeps running (`keelson get current shop/web@staging --refresh --db \(store.path)`
            shows its port). Stop it with: keelson runtime remove shop/web@staging --db \(store.path)

            Try next:
              keelson release shop/web --version 2.0.0-bad --db \(store.path)   # a version that fails its health check
              keelson runtime apply shop/web@staging --db \(store.path)        # fails; the old replica keeps serving
              keelson worker --db \(store.path)                   # promotes 1.4.x staging → canary → prod
              keelson status --db \(store.path)
              keelson events --follow --db \(store.path)          # and in another terminal:
              keelson release shop/web --version 2.0.0 --dry-run --db \(store.path)
              keelson get desired shop/web@prod-eu -o yaml --db \(store.path)
              keelson validate -f \(file)
            """)
    }
}

import ArgumentParser
import Foundation
import KeelsonCore
import KeelsonStore

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Append a small sample history to the database and show what the CLI can read from it.",
        discussion: """
            Appends a handful of events to a few streams (an application, a service, two instances) \
            through the real event store, then prints the streams, the latest events and the result \
            of `keelson db check`. Running it again appends another round. This is a stand-in until \
            `keelson up` exists; the events are illustrative, not yet produced by a real deploy.
            """
    )

    @OptionGroup var store: StoreOptions

    func run() async throws {
        let store = try store.open()
        let round = try await store.version(of: "app:shop") + 1
        let release = "1.4.\(round)"
        let appends: [StreamAppend] = [
            StreamAppend(stream: "app:shop", events: [
                NewEvent(type: "DemoNote", payload: #"{"text":"round \#(round): sample history"}"#, actor: "demo"),
            ]),
            StreamAppend(stream: "service:shop/web", events: [
                NewEvent(type: "DemoReleaseRequested", payload: #"{"version":"\#(release)"}"#, actor: "demo"),
            ]),
            StreamAppend(stream: "instance:shop/web@staging", events: [
                NewEvent(type: "DemoApplied", payload: #"{"version":"\#(release)"}"#, actor: "demo"),
                NewEvent(type: "DemoConverged", payload: #"{"version":"\#(release)"}"#, actor: "demo"),
            ]),
            StreamAppend(stream: "instance:shop/web@prod", events: [
                NewEvent(type: "DemoApplied", payload: #"{"version":"\#(release)"}"#, actor: "demo"),
            ]),
        ]
        let results = try await store.append(appends)
        let positions = results.map(\.positions)
        print("Appended 5 events to 4 streams at positions \(positions.first!.lowerBound)–\(positions.last!.upperBound) of \(store.path)\n")

        print("$ keelson streams")
        try await StreamsCommand.parse(["--db", store.path]).run()
        print("\n$ keelson events --last 8")
        print(EventTable.render(try await store.events(EventFilter(limit: 8, latest: true)), header: true))
        print("\n$ keelson db check")
        do {
            try await CheckDatabase.parse(["--db", store.path]).run()
        } catch let exit as ExitCode {
            throw exit
        }
        print("""

            Try next:
              keelson events --follow --db \(store.path)      # and in another terminal:
              keelson events append app:shop Note --data '{"text":"hi"}' --db \(store.path)
              keelson streams --at \(positions.first!.lowerBound - 1) --db \(store.path)   # the catalogue before this round
            """)
    }
}

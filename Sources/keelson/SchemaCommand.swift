import ArgumentParser
import KeelsonCompiler

struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print a JSON Schema of the config format, for editors.",
        discussion: """
            For example, with the YAML language server (VS Code and others):
              keelson schema > keelson.schema.json
            and at the top of a config file:
              # yaml-language-server: $schema=./keelson.schema.json
            """
    )

    func run() throws {
        print(try Formatting.json(ConfigSchema.document))
    }
}

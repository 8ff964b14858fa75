import KeelsonCore
import Testing
@testable import KeelsonCompiler

@Suite("Templates")
struct TemplateTests {
    let values: [String: TemplateValue] = [
        "parameters": .scope(["version": .text("1.4.2"), "html": .text("a&b<c>")]),
        "channel": .scope(["name": .text("prod-eu")]),
    ]

    @Test("renders variables without HTML escaping")
    func renders() throws {
        #expect(try Template.render("web:{{parameters.version}}@{{channel.name}}", with: values) == "web:1.4.2@prod-eu")
        #expect(try Template.render("{{parameters.html}}", with: values) == "a&b<c>")
        #expect(try Template.render("{{{parameters.html}}}", with: values) == "a&b<c>")
        #expect(try Template.render("no tags", with: values) == "no tags")
    }

    @Test("a variable that does not exist is an error naming it, with a suggestion")
    func missing() {
        #expect(throws: Template.Problem.missing(["parameters.vrsion"], available: ["channel.name", "parameters.html", "parameters.version"])) {
            try Template.render("{{parameters.vrsion}}", with: values)
        }
        let problem = Template.Problem.missing(["parameters.vrsion"], available: ["parameters.version"])
        #expect(problem.description == "template variable 'parameters.vrsion' does not exist (did you mean 'parameters.version'?)")
        #expect(throws: Template.Problem.self) { try Template.render("{{nothing}}", with: values) }
    }

    @Test("sections and partials are refused; syntax errors are reported")
    func unsupported() {
        #expect(throws: Template.Problem.unsupported("{{#…}}")) { try Template.render("{{#channel}}x{{/channel}}", with: values) }
        #expect(throws: Template.Problem.self) { try Template.render("{{parameters.version", with: values) }
    }
}

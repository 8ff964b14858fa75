import Foundation
import Testing

@testable import KeelsonCore

/// The hand-written JSON trees of the hot payloads (`JSONWritable`) are exactly what `Encodable`
/// writes, and the shapes they do not know go through `Encodable`.
@Suite("Hand-written payload writers")
struct NodeWriterTests {
    static func encoderText(_ value: some Encodable) throws -> String {
        String(decoding: try CanonicalJSON.encoded(value), as: UTF8.self)
    }

    static func expectSame(_ value: some Encodable, _ comment: Comment? = nil) throws {
        #expect(try CanonicalJSON.string(value) == (try encoderText(value)), comment)
    }

    @Test("every decision — each reason, action, status and precondition — is written as the encoder writes it")
    func decisions() throws {
        let reasons = NodeReaderTests.reasons
        var handWritten = 0
        for (index, reason) in reasons.enumerated() {
            let decision = Decision(
                status: InstanceStatus.allCases[index % InstanceStatus.allCases.count],
                waitingFor: index.isMultiple(of: 3) ? nil : Precondition.allCases[index % Precondition.allCases.count],
                version: index.isMultiple(of: 4) ? nil : "1.\(index)", reason: reason,
                actions: Array(NodeReaderTests.actions.prefix(index % (NodeReaderTests.actions.count + 1))),
                wakeAtMilliseconds: index.isMultiple(of: 2) ? nil : [Int64.min, -1, 0, Int64.max][index % 4])
            let made = DecisionMade(
                instance: NodeReaderTests.id, viewPosition: Int64(index), nowMilliseconds: 1_796_000_000_000,
                engineVersion: 3, decision: decision)
            try Self.expectSame(made, "for \(reason)")
            try Self.expectSame(decision, "for \(reason)")
            if made.writtenJSON != nil { handWritten += 1 }
        }
        // The common reasons are written by hand; the others still encode (above) through Encodable.
        #expect(handWritten >= 20)
        #expect(reasons.contains { Decision(status: .waiting, reason: $0).writtenJSON == nil })
        for action in NodeReaderTests.actions { try Self.expectSame(action) }
    }

    @Test("apply requests, leases and compiled desired states are written as the encoder writes them")
    func otherPayloads() throws {
        let id = NodeReaderTests.id
        for text in ["", "ünïcode \"q\" \\ / \n\t\u{0001}", String(repeating: "x", count: 5_000)] {
            try Self.expectSame(ApplyRequested(instance: id, requestID: text, version: text, digest: "sha256:1", document: #"{"a":"\#(text.count)"}"#, rollback: text.isEmpty))
            try Self.expectSame(LeaseAcquired(instance: id, worker: text, previousOwner: nil))
            try Self.expectSame(LeaseAcquired(instance: id, worker: "w", previousOwner: text))
            try Self.expectSame(DesiredStateCompiled(
                instance: id.description, digest: "sha256:2", document: "{}", version: text,
                parameters: [text: text, "b": "", "a": "1"], configDigest: text))
            try Self.expectSame(DesiredStateCompiled(
                instance: id.description, digest: "", document: "", version: "", parameters: [:], configDigest: ""))
        }
    }
}

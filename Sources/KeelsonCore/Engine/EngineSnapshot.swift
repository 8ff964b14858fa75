import Foundation

/// The engine's state at a log position, as stored in `engine_snapshots`: what a worker starts
/// from instead of folding the log from its first event. Pure data, checked by `keelson db check`
/// against a fold of the log to the same position.
///
/// Compiled documents are kept once per digest (`documents`); a record's releases carry an empty
/// document where the digest's one is meant. The sets of converging instances are not kept: they
/// are the instances whose status converges, rebuilt when a snapshot is read.
public struct EngineSnapshot: Codable, Sendable, Hashable {
    /// Bump whenever `EngineState.evolve` folds an event differently: a snapshot of another fold
    /// version is not used (its state is not what today's fold would make).
    public static let foldVersion = 1

    public var foldVersion: Int
    public var position: Int64
    public var policies: [String: ApplicationPolicy]
    public var records: [InstanceRecord]
    public var alerts: [String: FiringAlert]
    public var pauses: [String: String]
    public var badReleases: [String: [String: String]]
    public var unreadable: [String: [String: String]]
    /// Compiled documents by digest.
    public var documents: [String: String]

    public init(_ state: EngineState) {
        var documents: [String: String] = [:]
        func stripped(_ release: ReleaseRef?) -> ReleaseRef? {
            guard var release else { return nil }
            // A digest names one document; one that does not match (a forged event, say) is kept inline.
            if let known = documents[release.digest] {
                if known == release.document { release.document = "" }
            } else {
                documents[release.digest] = release.document
                release.document = ""
            }
            return release
        }
        foldVersion = Self.foldVersion
        position = state.position
        policies = state.policies
        records = state.instances.keys.sorted().map { id in
            var record = state.instances[id]!
            record.desired = stripped(record.desired)
            if let release = stripped(record.request?.release) { record.request?.release = release }
            if let release = stripped(record.converged?.release) { record.converged?.release = release }
            record.lastGood = stripped(record.lastGood)
            if let release = stripped(record.removal?.last) { record.removal?.last = release }
            return record
        }
        alerts = state.alerts
        pauses = state.pauses
        badReleases = state.badReleases
        unreadable = state.unreadable
        self.documents = documents
    }

    /// The state it holds.
    public var state: EngineState {
        func restored(_ release: ReleaseRef?) -> ReleaseRef? {
            guard var release else { return nil }
            if release.document.isEmpty, let document = documents[release.digest] { release.document = document }
            return release
        }
        var state = EngineState()
        state.position = position
        state.policies = policies
        for var record in records {
            record.desired = restored(record.desired)
            if let release = restored(record.request?.release) { record.request?.release = release }
            if let release = restored(record.converged?.release) { record.converged?.release = release }
            record.lastGood = restored(record.lastGood)
            if let release = restored(record.removal?.last) { record.removal?.last = release }
            state.instances[record.instance] = record
        }
        state.alerts = alerts
        state.pauses = pauses
        state.badReleases = badReleases
        state.unreadable = unreadable
        state.recountConverging()
        return state
    }
}

extension EngineSnapshot {
    /// Everything but the records, as the first line of the stored form.
    private struct Header: Codable {
        var foldVersion: Int
        var position: Int64
        var policies: [String: ApplicationPolicy]
        var alerts: [String: FiringAlert]
        var pauses: [String: String]
        var badReleases: [String: [String: String]]
        var unreadable: [String: [String: String]]
        var documents: [String: String]
        var records: Int
    }

    /// The stored form: JSON lines — a header, then one line per record — written one record at a
    /// time (a snapshot of 10,000 instances never becomes one big tree in memory) and read back
    /// in parallel.
    public func encoded() throws -> Data {
        // Canonical JSON (sorted keys): what `JSONEncoder` writes, written directly.
        var data = try CanonicalJSON.data(Header(
            foldVersion: foldVersion, position: position, policies: policies, alerts: alerts, pauses: pauses,
            badReleases: badReleases, unreadable: unreadable, documents: documents, records: records.count))
        for record in records {
            data.append(0x0A)
            data.append(contentsOf: try CanonicalJSON.bytes(record))
        }
        return data
    }

    /// Reads the stored form back (`encoded()`), decoding the records on every core.
    public static func decoded(_ data: Data) async throws -> EngineSnapshot {
        let lines = lines(of: data)
        guard let first = lines.first else { throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "an empty snapshot")) }
        let header = try PayloadDecoder().decode(Header.self, from: first)
        let lineCount = lines.count - 1
        guard lineCount == header.records else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "\(lineCount) records, the header says \(header.records)"))
        }
        let body = Array(lines.dropFirst())
        let parts = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8))
        let chunk = (body.count + parts - 1) / max(parts, 1)
        var records = [[InstanceRecord]](repeating: [], count: parts)
        try await withThrowingTaskGroup(of: (Int, [InstanceRecord]).self) { group in
            for part in 0..<parts where part * chunk < body.count {
                let slice = Array(body[(part * chunk)..<min(body.count, (part + 1) * chunk)])
                group.addTask {
                    let decoder = PayloadDecoder()
                    return (part, try slice.map { try decoder.decode(InstanceRecord.self, from: $0) })
                }
            }
            for try await (part, decoded) in group { records[part] = decoded }
        }
        return EngineSnapshot(header, records: records.flatMap { $0 })
    }

    /// The lines of `data` (split at every newline, empty ones kept), found through its bytes:
    /// `Data.split` goes through `Data`'s generic indexing byte by byte, 20 times slower on a
    /// snapshot of 10,000 instances.
    static func lines(of data: Data) -> [Data] {
        data.withUnsafeBytes { bytes in
            var lines: [Data] = []
            var start = 0
            while let end = bytes[start...].firstIndex(of: 0x0A) {
                lines.append(Data(bytes[start..<end]))
                start = end + 1
            }
            lines.append(Data(bytes[start...]))
            return lines
        }
    }

    private init(_ header: Header, records: [InstanceRecord]) {
        (foldVersion, position, policies, alerts) = (header.foldVersion, header.position, header.policies, header.alerts)
        (pauses, badReleases, unreadable, documents) = (header.pauses, header.badReleases, header.unreadable, header.documents)
        self.records = records
    }
}

extension EngineState {
    /// Rebuilds the sets of converging instances from the instances' statuses (what the fold keeps
    /// as decisions change them).
    mutating func recountConverging() {
        convergingByApplication = [:]
        convergingByChannel = [:]
        for (id, record) in instances where record.status.isConverging {
            convergingByApplication[id.application, default: []].insert(id)
            convergingByChannel["\(id.application)@\(id.channel)", default: []].insert(id)
        }
    }

    /// Whether two states hold the same (the sets of converging instances compared by their members,
    /// whatever empty sets they keep).
    public func holdsTheSame(as other: EngineState) -> Bool {
        EngineSnapshot(self) == EngineSnapshot(other)
            && convergingByApplication.filter { !$0.value.isEmpty } == other.convergingByApplication.filter { !$0.value.isEmpty }
            && convergingByChannel.filter { !$0.value.isEmpty } == other.convergingByChannel.filter { !$0.value.isEmpty }
    }
}

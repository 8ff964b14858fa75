import Foundation
import GRDB
import KeelsonCore

extension KeyedProjectionTable where P == StreamCatalogue {
    /// The stream catalogue, kept in `stream_catalogue` (see migrations/0002_projections.sql).
    public static let streamCatalogue = KeyedProjectionTable(
        StreamCatalogue(),
        rows: "stream_catalogue",
        mapping: streamCatalogueMapping,
        history: .wholeRows(streamCatalogueMapping, granularity: .checkpoints(lastChange: "last_position", eventsPerVersion: 10)))
}

private let streamCatalogueMapping = RowMapping<StreamID, StreamSummary>(
            columns: [
                "stream_id", "version", "first_position", "last_position", "first_recorded_at",
                "last_recorded_at", "event_count", "event_counts_by_type",
            ],
            encodeKey: { $0.rawValue.databaseValue },
            decodeKey: { StreamID(try textKey($0)) },
            encode: { summary in
                [
                    summary.streamID.rawValue.databaseValue, summary.version.databaseValue,
                    summary.firstPosition.databaseValue, summary.lastPosition.databaseValue,
                    summary.firstRecordedAtMilliseconds.databaseValue,
                    summary.lastRecordedAtMilliseconds.databaseValue, summary.eventCount.databaseValue,
                    CountsJSON.encode(summary.eventCountsByType).databaseValue,
                ]
            },
            decode: { row in
                let streamID = StreamID(row[0] as String)
                let counts = try CountsJSON.decode(row[7] as String)
                return (
                    streamID,
                    StreamSummary(
                        streamID: streamID, version: row[1], firstPosition: row[2], lastPosition: row[3],
                        firstRecordedAtMilliseconds: row[4], lastRecordedAtMilliseconds: row[5],
                        eventCount: row[6], eventCountsByType: counts)
                )
            })

/// The `event_counts_by_type` column: a JSON object of integers with sorted keys, e.g.
/// `{"ApplyFailed":1,"StateFetched":40}`. Encoded and decoded by hand because it is read and
/// written for every stream on every commit, where a `JSONEncoder`/`JSONDecoder` round trip cost
/// about 17 µs; anything unusual falls back to `JSONDecoder`.
enum CountsJSON {
    static func encode(_ counts: [String: Int64]) -> String {
        var json = "{"
        for (index, key) in counts.keys.sorted().enumerated() {
            if index > 0 { json += "," }
            json += quoted(key)
            json += ":"
            json += String(counts[key]!)
        }
        return json + "}"
    }

    static func decode(_ json: String) throws -> [String: Int64] {
        if let counts = fastDecode(json) { return counts }
        return try PayloadDecoder().decode([String: Int64].self, from: json)
    }

    /// Parses `{"key":123,...}` with keys free of escapes; `nil` for anything else.
    private static func fastDecode(_ json: String) -> [String: Int64]? {
        let bytes = Array(json.utf8)
        guard bytes.first == UInt8(ascii: "{"), bytes.last == UInt8(ascii: "}") else { return nil }
        var counts: [String: Int64] = [:]
        var index = 1
        let end = bytes.count - 1
        while index < end {
            guard bytes[index] == UInt8(ascii: "\"") else { return nil }
            let keyStart = index + 1
            var keyEnd = keyStart
            while keyEnd < end && bytes[keyEnd] != UInt8(ascii: "\"") {
                if bytes[keyEnd] == UInt8(ascii: "\\") { return nil }
                keyEnd += 1
            }
            guard keyEnd + 1 < end, bytes[keyEnd + 1] == UInt8(ascii: ":") else { return nil }
            var cursor = keyEnd + 2
            var value: Int64 = 0
            let digitsStart = cursor
            while cursor < end, bytes[cursor] >= UInt8(ascii: "0"), bytes[cursor] <= UInt8(ascii: "9") {
                let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times.addingReportingOverflow(Int64(bytes[cursor] - UInt8(ascii: "0")))
                if overflow1 || overflow2 { return nil }
                value = sum
                cursor += 1
            }
            guard cursor > digitsStart else { return nil }
            counts[String(decoding: bytes[keyStart..<keyEnd], as: UTF8.self)] = value
            if cursor < end {
                guard bytes[cursor] == UInt8(ascii: ",") else { return nil }
                cursor += 1
            }
            index = cursor
        }
        return counts
    }

    /// A JSON string literal for `text`.
    private static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20: result += String(format: "\\u%04x", scalar.value)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}

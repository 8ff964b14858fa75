import Foundation
import GRDB
import KeelsonCore

extension KeyedProjectionTable where P == StreamCatalogue {
    /// The stream catalogue, kept in `stream_catalogue` (see migrations/0002_projections.sql).
    public static let streamCatalogue = KeyedProjectionTable(
        StreamCatalogue(),
        tables: ProjectionTables(rows: "stream_catalogue", snapshots: "stream_catalogue_snapshots"),
        mapping: RowMapping(
            columns: [
                "stream_id", "version", "first_position", "last_position", "first_recorded_at",
                "last_recorded_at", "event_count", "event_counts_by_type",
            ],
            encodeKey: { $0.rawValue.databaseValue },
            encode: { summary in
                [
                    summary.streamID.rawValue.databaseValue, summary.version.databaseValue,
                    summary.firstPosition.databaseValue, summary.lastPosition.databaseValue,
                    summary.firstRecordedAtMilliseconds.databaseValue,
                    summary.lastRecordedAtMilliseconds.databaseValue, summary.eventCount.databaseValue,
                    ((try? CanonicalJSON.string(summary.eventCountsByType)) ?? "{}").databaseValue,
                ]
            },
            decode: { row in
                let streamID = StreamID(row[0] as String)
                let counts = try JSONDecoder().decode([String: Int64].self, from: Data((row[7] as String).utf8))
                return (
                    streamID,
                    StreamSummary(
                        streamID: streamID, version: row[1], firstPosition: row[2], lastPosition: row[3],
                        firstRecordedAtMilliseconds: row[4], lastRecordedAtMilliseconds: row[5],
                        eventCount: row[6], eventCountsByType: counts)
                )
            }))
}

/// Meter records already encoded as JSON lines and grouped by the file they go to (org and
/// UTC day of `ts`), ready for ``MeterWriter/submit(_:)-(MeterBatch)``.
///
/// Built where the records are made — on an event loop, one line per proxied `/_api`
/// request as it ends — so the writer's thread only appends bytes. Encoding there instead
/// came in bursts (a 256-record batch at a time) that took the loop's core for up to
/// 0.6 ms whenever the writer ran, which is what the p99 of a busy connection paid.
public struct MeterBatch: Sendable {
    struct Group: Sendable {
        var bytes: [UInt8] = []
        var count = 0
    }

    private(set) var groups: [MeterFileKey: Group] = [:]
    /// The group the previous record went to: consecutive records almost always share
    /// org and day, and comparing the key is cheaper than hashing it (~400 instructions
    /// per record). Forgotten whenever `groups` may gain a key elsewhere than in
    /// ``append(_:)``, since an index is only valid while the dictionary keeps its keys.
    private var last: (key: MeterFileKey, index: [MeterFileKey: Group].Index)?
    /// Records in the batch.
    public private(set) var count = 0
    private var secondPrefix = UTCTimestamp.SecondPrefix()

    public init() {}

    public init(_ records: some Sequence<MeterRecord>) {
        for record in records { append(record) }
    }

    public var isEmpty: Bool { count == 0 }

    /// Encodes `record` onto its file's lines.
    public mutating func append(_ record: MeterRecord) {
        let key = MeterFileKey(record)
        // One look-up, then in place: a copy of the group out of the dictionary would
        // copy its bytes.
        let index: [MeterFileKey: Group].Index
        if let last, last.key == key {
            index = last.index
        } else if let found = groups.index(forKey: key) {
            index = found
        } else {
            // Once per file and batch.
            groups[key] = Group()
            guard let added = groups.index(forKey: key) else { return }
            index = added
        }
        record.appendJSONLine(to: &groups.values[index].bytes, reusing: &secondPrefix)
        groups.values[index].count += 1
        count += 1
        last = (key, index)
    }

    /// Adds `other`'s lines after this batch's, file by file.
    mutating func append(contentsOf other: MeterBatch) {
        if isEmpty {
            self = other
            return
        }
        for (key, group) in other.groups { add(group, for: key) }
    }

    mutating func add(_ group: Group, for key: MeterFileKey) {
        last = nil
        groups[key, default: Group()].bytes.append(contentsOf: group.bytes)
        groups[key, default: Group()].count += group.count
        count += group.count
    }
}

/// The file a record goes to: its org and the UTC day of its `ts`.
struct MeterFileKey: Hashable, Sendable {
    static let dayMs: Int64 = 86_400_000
    let org: String
    /// Days since 1970 (floored, so a negative timestamp stays on its own day).
    let day: Int64

    init(_ record: MeterRecord) {
        org = record.org
        let ms = record.timestampMs
        day = ms >= 0 ? ms / Self.dayMs : (ms - Self.dayMs + 1) / Self.dayMs
    }
}

/// Where records live (SPEC "Metering"): `<dir>/<org>/<YYYY-MM-DD>.<instance>.jsonl`,
/// one file per org, UTC day and instance, so replicas can share one volume.
public struct MeterFileLayout: Sendable {
    public let directory: String
    public let instance: String

    public init(directory: String, instance: String) {
        self.directory = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        self.instance = instance
    }

    public func orgDirectory(_ org: String) -> String { directory + "/" + org }

    public func path(org: String, day: String) -> String {
        orgDirectory(org) + "/" + day + "." + instance + ".jsonl"
    }

    /// Day and instance of a log file name, or `nil` for anything else in the folder.
    public static func parseFileName(_ name: String) -> (day: String, instance: String)? {
        guard name.hasSuffix(".jsonl"), name.utf8.count > 17 else { return nil }
        let stem = name.dropLast(".jsonl".count)
        let day = String(stem.prefix(10))
        guard UTCTimestamp.parse(day) != nil, stem.dropFirst(10).first == "." else { return nil }
        let instance = String(stem.dropFirst(11))
        guard !instance.isEmpty else { return nil }
        return (day, instance)
    }
}

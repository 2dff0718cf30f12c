import GatehouseCore

/// One billable `/_api` call (SPEC "Metering"): what was forwarded for whom, and how it
/// ended. Built on the event loop when the exchange ends; serialised by the writer.
public struct MeterRecord: Sendable, Equatable {
    /// How the exchange ended.
    public enum Outcome: String, Sendable, Equatable, CaseIterable {
        case ok
        case upstreamError = "upstream_error"
        case clientAbort = "client_abort"
    }

    /// When the request arrived, in milliseconds since 1970 (UTC); picks the file's day.
    public var timestampMs: Int64
    public var org: String
    public var app: String
    public var user: String
    public var method: String
    /// The path sent to the API upstream (after `strip_prefix`), without the query.
    public var path: String
    public var status: Int
    /// Request body bytes actually sent upstream.
    public var requestBytes: Int
    /// Response body bytes actually delivered towards the client.
    public var responseBytes: Int
    public var durationMs: Double
    public var requestID: RequestID
    public var outcome: Outcome

    public init(
        timestampMs: Int64, org: String, app: String, user: String, method: String, path: String, status: Int,
        requestBytes: Int, responseBytes: Int, durationMs: Double, requestID: RequestID, outcome: Outcome
    ) {
        self.timestampMs = timestampMs
        self.org = org
        self.app = app
        self.user = user
        self.method = method
        self.path = path
        self.status = status
        self.requestBytes = requestBytes
        self.responseBytes = responseBytes
        self.durationMs = durationMs
        self.requestID = requestID
        self.outcome = outcome
    }

    /// Whether the call counts as an error in reports: status ≥ 500 or outcome ≠ ok.
    public var isError: Bool { status >= 500 || outcome != .ok }
}

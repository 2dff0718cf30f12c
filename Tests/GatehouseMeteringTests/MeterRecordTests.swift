import GatehouseMetering
import Testing

@Suite struct MeterRecordTests {
    static let sample = MeterRecord(
        timestampMs: 1_795_960_701_123, org: "org_42", app: "app_abc123", user: "user_2abc", method: "POST",
        path: "/v1/retrievers/search", status: 200, requestBytes: 123, responseBytes: 4567, durationMs: 12.34,
        requestID: "6f1c", outcome: .ok
    )

    @Test func serialisesEveryFieldInSpecOrder() {
        var out: [UInt8] = []
        Self.sample.appendJSONLine(to: &out)
        #expect(String(decoding: out, as: UTF8.self) ==
            #"{"ts":"2026-11-29T13:58:21.123Z","org":"org_42","app":"app_abc123","user":"user_2abc","method":"POST","path":"/v1/retrievers/search","status":200,"req_bytes":123,"resp_bytes":4567,"duration_ms":12.3,"request_id":"6f1c","outcome":"ok"}"# + "\n")
    }
}

/// The Prometheus text (format 0.0.4) of the loops' summed ``LoopMetrics``: the same
/// families, labels and order of labels the swift-metrics counters had, each with its
/// `# TYPE` line. Counters of every app a configuration named are listed, at zero too.
enum ProxyMetricsText {
    typealias Layout = LoopMetrics.Layout

    static func render(_ snapshot: LoopMetrics.Snapshot, appLabels: [String]) -> String {
        var out = ""
        out.reserveCapacity(8192)
        let slots = snapshot.known.indices.filter { snapshot.known[$0] && $0 < appLabels.count }

        out += "# TYPE gatehouse_requests_total counter\n"
        for slot in slots {
            for route in LoopMetrics.Route.allCases {
                for (status, label) in Layout.statusClasses.enumerated() {
                    let value = snapshot.cell(slot: slot, Layout.requests + route.rawValue * Layout.statusClassCount + status)
                    line(&out, "gatehouse_requests_total", [("app", appLabels[slot]), ("route", route.label), ("status", label)], value)
                }
            }
        }
        out += "# TYPE gatehouse_gate_decisions_total counter\n"
        for slot in slots {
            for (outcome, label) in LoopMetrics.GateOutcome.labels.enumerated() {
                line(&out, "gatehouse_gate_decisions_total", [("app", appLabels[slot]), ("outcome", label)], snapshot.cell(slot: slot, Layout.outcomes + outcome))
            }
        }
        out += "# TYPE gatehouse_upstream_failures_total counter\n"
        for slot in slots {
            line(&out, "gatehouse_upstream_failures_total", [("app", appLabels[slot])], snapshot.cell(slot: slot, Layout.upstreamFailures))
        }
        out += "# TYPE gatehouse_upstream_response_seconds histogram\n"
        for slot in slots {
            for (timed, route) in [LoopMetrics.Route.api, .app].enumerated() {
                let base = Layout.latency + timed * Layout.latencyStride
                let labels = [("app", appLabels[slot]), ("route", route.label)]
                var cumulative = 0
                for (bucket, bound) in Layout.latencyLabels.enumerated() {
                    cumulative += snapshot.cell(slot: slot, base + bucket)
                    line(&out, "gatehouse_upstream_response_seconds_bucket", labels + [("le", bound)], cumulative)
                }
                cumulative += snapshot.cell(slot: slot, base + Layout.latencyBounds.count)
                line(&out, "gatehouse_upstream_response_seconds_bucket", labels + [("le", "+Inf")], cumulative)
                line(&out, "gatehouse_upstream_response_seconds_sum", labels, seconds(snapshot.cell(slot: slot, base + Layout.latencyStride - 1)))
                line(&out, "gatehouse_upstream_response_seconds_count", labels, cumulative)
            }
        }
        out += "# TYPE gatehouse_open_connections gauge\n"
        line(&out, "gatehouse_open_connections", [], snapshot.openConnections)
        return out
    }

    private static func line(_ out: inout String, _ name: String, _ labels: [(String, String)], _ value: Int) {
        line(&out, name, labels, String(value))
    }

    private static func line(_ out: inout String, _ name: String, _ labels: [(String, String)], _ value: String) {
        out += name
        if !labels.isEmpty {
            out += "{"
            for (i, (key, labelValue)) in labels.enumerated() {
                if i > 0 { out += "," }
                out += key
                out += "=\""
                out += escaped(labelValue)
                out += "\""
            }
            out += "}"
        }
        out += " "
        out += value
        out += "\n"
    }

    /// Label values escape `\`, `"` and newline (the exposition format's rules).
    static func escaped(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\n") }) else {
            return value
        }
        var out = ""
        for character in value.unicodeScalars {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    /// Nanoseconds as decimal seconds, exactly (no floating-point rounding).
    static func seconds(_ nanoseconds: Int) -> String {
        let whole = nanoseconds / 1_000_000_000
        var fraction = String(nanoseconds % 1_000_000_000)
        fraction = String(repeating: "0", count: 9 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return fraction.isEmpty ? String(whole) : "\(whole).\(fraction)"
    }
}

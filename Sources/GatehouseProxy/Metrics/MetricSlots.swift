import NIOConcurrencyHelpers

/// A stable small number per app id, the index of the app's cells in every loop's
/// ``LoopMetrics``. Process-wide and never reused, so an exchange that started before a
/// reload still counts for its own app, and an app kept across reloads keeps its counts.
/// Bounded by the app ids the configurations name; taken under a lock only when a
/// configuration is built and when `/metrics` is rendered.
enum MetricSlots {
    /// Requests refused before routing (no app): label `_none`.
    static let none = 0

    private static let table = NIOLockedValueBox(Table())

    private struct Table {
        var ids = ["_none"]
        var slots: [String: Int] = [:]
    }

    static func slot(for appID: String) -> Int {
        table.withLockedValue { table in
            if let slot = table.slots[appID] { return slot }
            table.ids.append(appID)
            table.slots[appID] = table.ids.count - 1
            return table.ids.count - 1
        }
    }

    /// The `app` label of every slot so far, by slot.
    static func labels() -> [String] {
        table.withLockedValue { $0.ids }
    }
}

import Metrics
import NIOConcurrencyHelpers
import Prometheus

/// The process-wide Prometheus registry behind swift-metrics. `MetricsSystem` may be
/// bootstrapped once per process, so the first instance does it and later ones (tests
/// start several) share it.
public enum MetricsRegistry {
    private static let registry = NIOLockedValueBox<PrometheusCollectorRegistry?>(nil)

    /// The registry, bootstrapping swift-metrics with it on first use.
    public static func shared() -> PrometheusCollectorRegistry {
        registry.withLockedValue { existing in
            if let existing { return existing }
            let created = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: created))
            existing = created
            return created
        }
    }
}

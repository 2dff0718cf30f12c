import GatehouseCore
import NIOCore

/// The per-process settings every connection handler reads: limits as `TimeAmount`s,
/// trusted proxies and the clock. Immutable.
public struct ProxySettings: Sendable {
    public var maxHeaderBytes: Int
    public var maxAPIBodyBytes: Int
    public var clientHeaderTimeout: TimeAmount
    public var upstreamConnectTimeout: TimeAmount
    public var upstreamResponseTimeout: TimeAmount
    public var idleTimeout: TimeAmount
    public var trustedProxies: [CIDRRange]
    /// `access_log`: off, or the percentage of requests logged.
    public var accessLogPercent: Int
    /// Seconds since 1970; injected so tests can move time.
    public var clock: @Sendable () -> Double

    public init(configuration: GatehouseConfiguration, clock: @escaping @Sendable () -> Double) {
        let limits = configuration.limits
        self.maxHeaderBytes = limits.maxHeaderBytes
        self.maxAPIBodyBytes = limits.maxAPIBodyBytes
        self.clientHeaderTimeout = .milliseconds(Int64(limits.clientHeaderTimeoutMs))
        self.upstreamConnectTimeout = .milliseconds(Int64(limits.upstreamConnectTimeoutMs))
        self.upstreamResponseTimeout = .milliseconds(Int64(limits.upstreamResponseTimeoutMs))
        self.idleTimeout = .milliseconds(Int64(limits.idleTimeoutMs))
        self.trustedProxies = configuration.trustedProxies
        self.accessLogPercent = configuration.accessLog.enabled ? configuration.accessLog.samplePercent : 0
        self.clock = clock
    }

    func isTrusted(ipBytes bytes: [UInt8]?) -> Bool {
        guard let bytes, !trustedProxies.isEmpty else { return false }
        return trustedProxies.contains { $0.contains(bytes) }
    }
}

extension SocketAddress {
    /// The peer's IP as 4 or 16 bytes; `nil` for unix sockets.
    var ipBytes: [UInt8]? {
        switch self {
        case .v4(let a):
            return withUnsafeBytes(of: a.address.sin_addr.s_addr) { Array($0) }
        case .v6(let a):
            return withUnsafeBytes(of: a.address.sin6_addr) { Array($0) }
        case .unixDomainSocket:
            return nil
        }
    }
}

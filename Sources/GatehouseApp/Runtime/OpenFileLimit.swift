#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's limit on open files, raised at start from the soft to the hard limit.
///
/// Every proxied request holds two descriptors (the client's and the upstream's), and a
/// container runtime may start Gatehouse with a soft limit of 1024 under a hard one of
/// 524288 (containerd 2, systemd's default): a few hundred concurrent requests would
/// then hit `EMFILE`, stalling accepts and failing upstream connects as 502. Go programs
/// raise the soft limit the same way at start; nginx needs `worker_rlimit_nofile`.
public enum OpenFileLimit {
    /// Raises the soft limit to the hard one (Linux; elsewhere it only reports). Returns
    /// the limit in force afterwards, `nil` if it cannot be read.
    @discardableResult
    public static func raiseToHardLimit() -> UInt64? {
        var limit = rlimit()
        #if os(Linux)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0 else { return nil }
        #if os(Linux)
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(resource, &raised) == 0 { limit = raised }
        }
        #endif
        return UInt64(limit.rlim_cur)
    }
}

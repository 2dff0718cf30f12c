import NIOCore

/// How many receive buffers a connection may keep: one, on both sides of the proxy.
///
/// NIO reads into buffers from a per-channel pool that holds up to `maxMessagesPerRead` of
/// them for the channel's whole life, each grown by the adaptive allocator to as much as
/// 64 KB and never shrunk. A read loop keeps every buffer it fills in flight (passed on,
/// written at the end of the loop's tick), so each read of a large transfer adds one to the
/// pool: with the 16 Gatehouse asked for on client connections a 1 MB upload left ~950 KB
/// per kept-alive connection, and NIO's default 4 left ~260 KB per pooled upstream
/// connection after a large response — memory any signed-in user could pin by opening
/// connections (`ReceiveBufferMemoryTests`). With one, a channel keeps one buffer (≤ 64 KB)
/// and a read that finds it still in flight takes a fresh one that is freed once written.
///
/// Measured at no cost: the same system calls per `/_api` request and per page under load
/// (`strace -c`: two `read`s and two `write`s), the same instructions (callgrind), and 64 KB
/// reads for bulk transfers, one per readiness event (200 MB each way at the same CPU time
/// within the host's noise). NIO reads once per event anyway whenever a read does not fill
/// its buffer, which is every read of a request or response that fits in one.
enum ReceiveBuffers {
    static let maxMessagesPerRead: UInt = 1
}

import GatehouseCore
import NIOCore
import NIOHTTP1

/// A request as its upstream receives it, built by ``UpstreamRequestBuilder``: the head's
/// bytes, written once, and how the body parts that follow are framed. Handed to the
/// connection's ``UpstreamHandler``, which tells its encoder and response decoder directly.
@_spi(Benchmarks) public struct UpstreamRequest {
    /// `METHOD target HTTP/1.1`, the fields and the blank line.
    public var head: ByteBuffer
    /// How the encoder frames the body parts that follow the head.
    var framing: HTTPBodyFraming
    /// The head's target (the meter's path is read from it).
    public var uri: String
    /// The request's method, for the upstream's response decoder (a response to HEAD has
    /// no body) and the replay rule. The method alone, not the client's head it came from:
    /// a head made the whole request a type whose copies and destroys go through its value
    /// witnesses (`Exchange/replay` is set and cleared on every pooled `/_api` request:
    /// ~400 instructions; `Benchmarks/README.md`, twenty-eighth round).
    let method: HTTPMethod
}

/// Where ``UpstreamRequestBuilder`` puts the fields it sets: counted first
/// (``HTTPHeadSerializer/LineCount``), then written (``HTTPHeadSerializer/Writer``) into
/// exactly that room, from one description of them.
protocol HeaderFieldSink {
    /// `name: value\r\n`.
    mutating func field(_ name: String, _ value: String)
    /// `name: id\r\n`: counted from the id's length, its digits written only when the
    /// head is (``RequestID/withUTF8Bytes(_:)``).
    mutating func field(_ name: String, _ id: RequestID)
    /// Whole `name: value\r\n` lines, built before (``UpstreamRequestBuilder/APIRewrite``).
    mutating func lines(_ bytes: [UInt8])
    /// The blank line that ends the head.
    mutating func end()
}

import NIOCore

/// Finds where the SDK snippet goes in a streamed HTML document (SPEC "HTML injection").
///
/// Right after the opening `<head …>` tag, else after `<html …>`, else at the start of the
/// document: after a UTF-8 byte order mark and a leading `<!DOCTYPE>` (a script before the
/// doctype would put the page in quirks mode). The search stops at `<body>` (a later
/// `<head>` is no head) and covers the first `searchLimit` bytes (64 KiB): a document with
/// neither `<html>` nor `<head>` there is left unchanged, since whatever it is, a script
/// at its start is a guess. A document that already carries the marker — `data-gatehouse`
/// on its `<html>`/`<head>` tag, or a `<script data-gatehouse>` before the decision or
/// right after `<head>` — is left unchanged too, so chained sidecars inject once.
///
/// Until it decides, the machine holds the bytes it was given (at most `searchLimit` plus
/// one chunk); after that every chunk passes straight through, so a document of any size
/// costs the same memory. A value with no I/O: events return what to write, and the owner
/// (``HTMLResponseRewriter``, on the connection's event loop) writes it.
struct HTMLInjectionStateMachine {
    static let defaultSearchLimit = 64 * 1024

    /// What the owner writes after an event.
    enum Action: Equatable {
        /// Nothing to write: the bytes are held until the insertion point is known (or, at
        /// the end of a decided document, nothing is left).
        case wait
        /// Write `before`, the snippet, then `after`; what follows is written as it comes.
        case inject(before: ByteBuffer, after: ByteBuffer)
        /// The document is left as it is: write these held bytes, then what follows.
        case leaveUnchanged(ByteBuffer)
        /// Decided earlier: write these bytes as they are.
        case write(ByteBuffer)
    }

    private enum State {
        /// Looking for `<head>`. `htmlEnd`: where `<html>` ended, if seen; `start`: where
        /// the document's content starts (after a leading doctype); `seenContent`: anything
        /// but white space and comments came already.
        case searching(htmlEnd: Int?, start: Int, seenContent: Bool)
        /// `<head>` ended at `insertAt`; the next token tells whether a marked script follows.
        case checkingMarker(insertAt: Int)
        case decided
    }

    private enum Decision {
        case inject(at: Int)
        case leave
    }

    private var state = State.searching(htmlEnd: nil, start: 0, seenContent: false)
    private var tokenizer = HTMLHeadTokenizer()
    /// Every byte so far, until the decision (document offset 0 is its first readable byte).
    private var held = ByteBuffer()
    private let searchLimit: Int

    init(searchLimit: Int = HTMLInjectionStateMachine.defaultSearchLimit) {
        self.searchLimit = searchLimit
    }

    /// Whether the insertion point (or the choice to leave the document alone) is known.
    var isDecided: Bool {
        if case .decided = state { return true }
        return false
    }

    /// The next piece of the (decoded) document arrived.
    mutating func bodyReceived(_ chunk: ByteBuffer) -> Action {
        if case .decided = state { return .write(chunk) }
        let scannable = max(0, min(chunk.readableBytes, searchLimit - tokenizer.offset))
        if held.readableBytes == 0 {
            held = chunk
        } else {
            var chunk = chunk
            held.writeBuffer(&chunk)
        }
        // Over the raw bytes: a `ByteBufferView` checks its bounds on every byte.
        let decision = chunk.withUnsafeReadableBytes { bytes -> Decision? in
            for byte in bytes.prefix(scannable) {
                if let token = tokenizer.consume(byte), let decision = handle(token) { return decision }
            }
            return nil
        }
        if let decision { return decide(decision) }
        guard tokenizer.offset >= searchLimit else { return .wait }
        switch state {
        case .searching(let htmlEnd, _, _):
            return decide(htmlEnd.map { .inject(at: $0) } ?? .leave)
        case .checkingMarker(let insertAt):
            return decide(.inject(at: insertAt))
        case .decided:
            return .wait
        }
    }

    /// The document ended.
    mutating func bodyEnded() -> Action {
        switch state {
        case .searching(let htmlEnd, let start, _):
            return decide(.inject(at: htmlEnd ?? contentStart(start)))
        case .checkingMarker(let insertAt):
            return decide(.inject(at: insertAt))
        case .decided:
            return .wait
        }
    }

    private mutating func handle(_ token: HTMLHeadToken) -> Decision? {
        switch state {
        case .searching(var htmlEnd, var start, var seenContent):
            switch token {
            case .startTag(.head, let marked, let end):
                if marked { return .leave }
                state = .checkingMarker(insertAt: end)
                return nil
            case .startTag(.html, let marked, let end):
                if marked { return .leave }
                if htmlEnd == nil { htmlEnd = end }
            case .startTag(.script, marked: true, _):
                return .leave
            case .startTag(.body, _, _), .startTag(.plaintext, _, _):
                return .inject(at: htmlEnd ?? contentStart(start))
            case .doctype(let end):
                if !seenContent { start = end }
            case .startTag, .content:
                break
            }
            seenContent = true
            state = .searching(htmlEnd: htmlEnd, start: start, seenContent: seenContent)
            return nil
        case .checkingMarker(let insertAt):
            if case .startTag(.script, marked: true, _) = token { return .leave }
            return .inject(at: insertAt)
        case .decided:
            return nil
        }
    }

    /// The start of the document: after a leading doctype, else after a byte order mark.
    private func contentStart(_ start: Int) -> Int {
        start > 0 ? start : (tokenizer.byteOrderMarkLength == 3 ? 3 : 0)
    }

    private mutating func decide(_ decision: Decision) -> Action {
        state = .decided
        var bytes = held
        held = ByteBuffer()
        switch decision {
        case .leave:
            return .leaveUnchanged(bytes)
        case .inject(let at):
            let before = bytes.readSlice(length: min(at, bytes.readableBytes)) ?? ByteBuffer()
            return .inject(before: before, after: bytes)
        }
    }
}

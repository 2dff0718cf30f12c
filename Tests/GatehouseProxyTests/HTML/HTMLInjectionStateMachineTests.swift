@testable import GatehouseProxy
import NIOCore
import Testing

/// Tier 1: the injector's state machine alone, fed byte chunks split every possible way.
@Suite struct HTMLInjectionStateMachineTests {
    enum Outcome: Equatable {
        case injected(at: Int)
        case unchanged
    }

    /// Feeds `document` cut at `splits`; returns what was written (the snippet itself
    /// left out, so it must equal the document), where the snippet went, and the most
    /// bytes the machine held before deciding.
    static func run(_ document: [UInt8], splits: [Int] = [], limit: Int = HTMLInjectionStateMachine.defaultSearchLimit)
        -> (written: [UInt8], outcome: Outcome?, maxHeld: Int) {
        var machine = HTMLInjectionStateMachine(searchLimit: limit)
        var written: [UInt8] = []
        var outcome: Outcome?
        var maxHeld = 0
        var fed = 0
        func apply(_ action: HTMLInjectionStateMachine.Action) {
            switch action {
            case .wait:
                break
            case .write(let bytes):
                written += bytes.readableBytesView
            case .leaveUnchanged(let bytes):
                #expect(outcome == nil)
                maxHeld = max(maxHeld, bytes.readableBytes)
                outcome = .unchanged
                written += bytes.readableBytesView
            case .inject(let before, let after):
                #expect(outcome == nil)
                maxHeld = max(maxHeld, before.readableBytes + after.readableBytes)
                written += before.readableBytesView
                outcome = .injected(at: written.count)
                written += after.readableBytesView
            }
        }
        var start = 0
        for cut in splits + [document.count] where cut >= start {
            fed += cut - start
            apply(machine.bodyReceived(ByteBuffer(bytes: document[start..<cut])))
            start = cut
        }
        #expect(fed == document.count)
        apply(machine.bodyEnded())
        return (written, outcome, maxHeld)
    }

    static func insertion(_ text: String, after marker: String) -> Outcome {
        let bytes = Array(text.utf8)
        let needle = Array(marker.utf8)
        for i in 0...(bytes.count - needle.count) where Array(bytes[i..<i + needle.count]) == needle {
            return .injected(at: i + needle.count)
        }
        Issue.record("marker \(marker) not in document")
        return .unchanged
    }

    static let sample = """
        <!DOCTYPE html>\n<!-- <head> in a comment --><HTML lang="en"><heading><header x='<head>'></header>\
        <Head data-x="a>b" class=page>\n<title>t</title></head><body><head></body></HTML>
        """

    @Test func everySplitPointOfTheSampleGivesTheSameInsertionPoint() {
        let document = Array(Self.sample.utf8)
        let expected = Self.insertion(Self.sample, after: #"<Head data-x="a>b" class=page>"#)
        for i in 0...document.count {
            let result = Self.run(document, splits: [i])
            #expect(result.outcome == expected, "split at \(i)")
            #expect(result.written == document, "split at \(i)")
        }
    }

    @Test func everyPairOfSplitPointsAndByteAtATime() {
        let document = Array(Self.sample.utf8)
        let expected = Self.insertion(Self.sample, after: #"<Head data-x="a>b" class=page>"#)
        for i in 0...document.count {
            for j in i...document.count {
                let result = Self.run(document, splits: [i, j])
                #expect(result.outcome == expected && result.written == document, "splits at \(i), \(j)")
            }
        }
        let single = Self.run(document, splits: Array(1..<document.count))
        #expect(single.outcome == expected)
        #expect(single.written == document)
    }

    @Test(arguments: [
        ("<html><head><title>x</title></head></html>", "<html><head>"),
        ("<HEAD lang=en><title>x</title>", "<HEAD lang=en>"),
        ("<!doctype html><html lang=en><body>hi</body>", "<html lang=en>"),
        ("<html>\n<p>no head at all</p>", "<html>"),
        ("<!-- <head> --><html><head>", "<!-- <head> --><html><head>"),
        ("<!--><head>", "<!--><head>"),
        ("<html><header>x</header><heading>y</heading><head >", "<head >"),
        ("<html><body><head>", "<html>"),
        ("<html><script>var s = \"<head>\"</script><head>", "</script><head>"),
        ("<html><textarea></TEXTAREA ><head>", "<head>"),
        ("<html><head><script src=/app.js></script>", "<html><head>"),
        ("<html><meta content=\"<head>\"><head/>", "<head/>"),
        ("<!DOCTYPE html><title>t</title><p>", "<!DOCTYPE html>"),
    ])
    func insertionPoint(document: String, after marker: String) {
        let result = Self.run(Array(document.utf8))
        #expect(result.outcome == Self.insertion(document, after: marker))
        #expect(result.written == Array(document.utf8))
    }

    @Test func aFragmentGetsTheSnippetAtTheStartAfterAByteOrderMark() {
        #expect(Self.run(Array("<p>fragment</p>".utf8)).outcome == .injected(at: 0))
        #expect(Self.run([]).outcome == .injected(at: 0))
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        for split in 0...5 {
            #expect(Self.run(bom + Array("<p>x</p>".utf8), splits: [split]).outcome == .injected(at: 3))
            #expect(Self.run(bom + Array("<!DOCTYPE html><p>".utf8), splits: [split]).outcome == .injected(at: 18))
            #expect(Self.run(bom + Array("<HTML><HEAD>".utf8), splits: [split]).outcome == .injected(at: 15))
        }
        // Bytes that only start like a BOM are content: the snippet goes before them.
        #expect(Self.run([0xEF, 0xBB, UInt8(ascii: "x")]).outcome == .injected(at: 0))
    }

    @Test(arguments: [
        "<html><head data-gatehouse><title>x</title>",
        "<html data-gatehouse><head>",
        "<html><HEAD DATA-GATEHOUSE=\"\">",
        "<html><head><script data-gatehouse>window.__MIXPEEK__={}</script><script data-gatehouse src=\"/_auth/sdk.js\"></script>",
        "<html><head>\n  <script data-gatehouse nonce=\"abc\">window.__MIXPEEK__={}</script>",
        "<script data-gatehouse>window.__MIXPEEK__={}</script><p>fragment",
    ])
    func alreadyInjectedDocumentsAreLeftAlone(document: String) {
        let bytes = Array(document.utf8)
        for i in 0...bytes.count {
            let result = Self.run(bytes, splits: [i])
            #expect(result.outcome == .unchanged, "split at \(i)")
            #expect(result.written == bytes)
        }
    }

    @Test func markerLookAlikesDoNotCount() {
        for document in [
            "<html><head><script data-gatehousekeeper>x</script>",
            "<html><head><script src=\"data-gatehouse\"></script>",
            "<html><head><p data-gatehouse>",
        ] {
            #expect(Self.run(Array(document.utf8)).outcome == Self.insertion(document, after: "<head>"), "\(document)")
        }
    }

    @Test func nothingWithinTheSearchLimitLeavesTheDocumentUnchanged() {
        let filler = Array(repeating: UInt8(ascii: "a"), count: 70_000)
        let late = filler + Array("<html><head>".utf8)
        let result = Self.run(late, splits: [1000, 40_000, 65_000])
        #expect(result.outcome == .unchanged)
        #expect(result.written == late)

        // `<html>` within the limit, `<head>` beyond: after `<html>`.
        let html = Array("<html>".utf8) + filler + Array("<head>".utf8)
        #expect(Self.run(html, splits: [3, 50_000]).outcome == .injected(at: 6))

        // A small limit shows the boundary exactly: a tag must end within it.
        let doc = Array("<html><head>".utf8)
        #expect(Self.run(doc, limit: 12).outcome == .injected(at: 12))
        #expect(Self.run(doc, limit: 11).outcome == .injected(at: 6))
        #expect(Self.run(doc, limit: 5).outcome == .unchanged)
    }

    @Test func memoryHeldIsBoundedWhateverTheDocumentSize() {
        let chunk = 16 * 1024
        let huge = Array(repeating: UInt8(ascii: "x"), count: 5 << 20)
        let splits = Array(stride(from: chunk, to: huge.count, by: chunk))
        let result = Self.run(huge, splits: splits)
        #expect(result.outcome == .unchanged)
        #expect(result.maxHeld <= HTMLInjectionStateMachine.defaultSearchLimit + chunk)
        #expect(result.written.count == huge.count)

        let early = Array("<html><head>".utf8) + huge
        let injected = Self.run(early, splits: splits)
        #expect(injected.outcome == .injected(at: 12))
        #expect(injected.maxHeld == chunk)
        #expect(injected.written == early)
    }

    @Test func afterTheDecisionChunksPassStraightThrough() {
        var machine = HTMLInjectionStateMachine()
        guard case .inject(let before, let after) = machine.bodyReceived(ByteBuffer(string: "<head>rest")) else {
            Issue.record("no decision")
            return
        }
        #expect(String(buffer: before) == "<head>")
        #expect(String(buffer: after) == "rest")
        #expect(machine.bodyReceived(ByteBuffer(string: "<head>more")) == .write(ByteBuffer(string: "<head>more")))
        #expect(machine.bodyEnded() == .wait)
    }
}

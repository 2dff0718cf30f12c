import Foundation
import GatehouseApp
import GatehouseCore
import GatehouseProxy
import GatehouseTesting
import Logging
import Testing

/// `gatehouse demo` in a browser: its page carries no SDK tag of its own, Gatehouse
/// injects the SDK, and the page signs in through the dev dialog, calls `/_api/hello`
/// (answered by the demo API with the owner key) and signs out.
@Suite(.serialized) struct DemoBrowserTests {
    @Test func demoPageSignsInCallsTheAPIAndSignsOut() async throws {
        var logger = Logger(label: "demo-browser-test")
        logger.logLevel = .critical
        let session = try await DemoSession.start(
            listen: .init(host: "127.0.0.1", port: 0), adminListen: .init(host: "127.0.0.1", port: 0), logger: logger,
            stateDirectory: FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-demo-\(UUID().uuidString)").path
        )
        let port = try #require(session.instance.proxyAddress.port)
        let browser = try await WebDriverBrowser.start()
        do {
            try await browser.navigate("http://127.0.0.1:\(port)/")
            try await browser.waitUntil("document.getElementById('status').textContent === 'Signed out'")
            #expect(try await browser.execute("return document.querySelectorAll('script[data-gatehouse]').length;") == 2)

            try await browser.click("#signin")
            try await browser.waitUntil("document.querySelector('[data-gatehouse-dialog] input[name=email]')")
            try await browser.type("[data-gatehouse-dialog] input[name=email]", "ada@example.com")
            try await browser.click("[data-gatehouse-dialog] [data-gatehouse-submit]")
            try await browser.waitUntil("document.getElementById('status').textContent === 'Signed in as ada@example.com'")

            try await browser.click("#call")
            let answer = try #require(try await browser.waitUntil(
                "document.getElementById('out').textContent.indexOf('200 ') === 0 && document.getElementById('out').textContent").stringValue)
            #expect(answer.contains(#""owner_key_received":true"#))
            #expect(answer.contains(#""user":"\#(DevIssuer.subject(forEmail: "ada@example.com"))""#))

            try await browser.click("#signout")
            try await browser.waitUntil("document.getElementById('status').textContent === 'Signed out'")
            try await browser.click("#call")
            try await browser.waitUntil("document.getElementById('out').textContent.indexOf('401 ') === 0")
        } catch {
            await browser.quit()
            await session.stop()
            throw error
        }
        await browser.quit()
        await session.stop()
    }
}

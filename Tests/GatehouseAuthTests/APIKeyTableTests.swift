import GatehouseAuth
import Testing

@Suite("API keys")
struct APIKeyTableTests {
    @Test func knownVector() {
        #expect(APIKeyHash.hex(Array("test".utf8)) == "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
        #expect(APIKeyHash.hex("test") == "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
    }

    @Test func lookup() {
        let table = APIKeyTable(entries: [
            (name: "ingest", sha256Hex: APIKeyHash.hex("sk_ingest"), admin: false),
            (name: "ops", sha256Hex: APIKeyHash.hex("sk_ops").uppercased(), admin: true),
            (name: "broken", sha256Hex: "zz", admin: true),
        ])
        #expect(table.count == 2)
        #expect(table.lookup("sk_ingest") == APIKeyIdentity(name: "ingest", admin: false))
        #expect(table.lookup("sk_ops") == APIKeyIdentity(name: "ops", admin: true))
        #expect(table.lookup("sk_ops ") == nil)
        #expect(table.lookup("sk_ingesT") == nil)
        #expect(table.lookup("") == nil)
        #expect(APIKeyTable.empty.lookup("sk_ingest") == nil)
    }
}

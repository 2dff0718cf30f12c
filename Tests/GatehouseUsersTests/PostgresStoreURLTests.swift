import GatehouseUsers
import Testing

@Suite struct PostgresStoreURLTests {
    @Test func readsEveryPart() throws {
        let url = try PostgresStoreURL("postgresql://gate%40keeper:p%2Fss@db.internal:6543/users%20db?sslmode=verify-full&connect_timeout=9")
        #expect(url.username == "gate@keeper")
        #expect(url.password == "p/ss")
        #expect(url.host == "db.internal")
        #expect(url.port == 6543)
        #expect(url.database == "users db")
        #expect(url.tls == .verifyFull)
        #expect(url.connectTimeout == 9)
        #expect(url.endpoint == "db.internal:6543")
    }

    @Test func defaults() throws {
        let remote = try PostgresStoreURL("postgres://u@db.internal")
        #expect(remote.port == 5432)
        #expect(remote.password == nil)
        #expect(remote.database == nil)
        #expect(remote.tls == .prefer)
        #expect(remote.connectTimeout == 5)
        for host in ["127.0.0.1", "localhost", "[::1]"] {
            #expect(try PostgresStoreURL("postgres://u:p@\(host)/db").tls == .disable, "\(host)")
        }
        #expect(try PostgresStoreURL("postgres://u:p@[::1]:7/db").endpoint == "[::1]:7")
        #expect(try PostgresStoreURL("postgres://u:p@127.0.0.1/db?sslmode=require").tls == .require)
        #expect(try PostgresStoreURL("postgres://u@h/db?password=s3cret").password == "s3cret")
    }

    @Test(arguments: [
        ("postgres://u:secretpw@/db", "needs a host"),
        ("postgres://db.internal/gh", "needs a user"),
        ("postgres://:secretpw@h/db", "needs a user"),
        ("postgres://u:secretpw@h:0/db", "port"),
        ("postgres://u:secretpw@h/db/x", "one database name"),
        ("postgres://u:secretpw@h/db?sslmode=always", "sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full"),
        ("postgres://u:secretpw@h/db?connect_timeout=0", "connect_timeout"),
        ("postgres://u:secretpw@h/db?channel_binding=require", "unknown parameter channel_binding"),
        ("postgres://u:secretpw@h:port/db", "not a valid URL"),
    ])
    func refusesWhatItCannotUse(_ url: String, _ reason: String) {
        do {
            _ = try UserStoreLocation(url)
            Issue.record("expected \(url) to be refused")
        } catch {
            #expect(error.description.hasPrefix("users.store: "))
            #expect(error.description.contains(reason))
            #expect(!error.description.contains("secretpw"))
        }
    }

    @Test func itsDescriptionNeverHoldsThePassword() throws {
        let url = try PostgresStoreURL("postgres://gate:hunter2@db.internal/gh")
        #expect(url.description == "db.internal:5432/gh")
        #expect(!"\(UserStoreLocation.postgres(url))".contains("hunter2"))
    }
}

import ArgumentParser
import Foundation
import GatehouseAuth

/// `gatehouse keys`: helpers for server-to-server api keys.
struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "API key helpers.", subcommands: [Hash.self])

    /// `gatehouse keys hash`: sha256 of the key on stdin, for `auth.api_keys[].sha256`.
    struct Hash: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Read an API key on stdin and print its sha256 (hex).")

        func run() throws {
            var bytes = [UInt8](FileHandle.standardInput.readDataToEndOfFile())
            // A trailing newline (from `echo` or a file) is not part of the key.
            if bytes.last == UInt8(ascii: "\n") {
                bytes.removeLast()
                if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
            }
            guard !bytes.isEmpty else { throw CLIError(description: "keys hash: no key on stdin") }
            print(APIKeyHash.hex(bytes))
        }
    }
}

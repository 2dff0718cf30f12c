import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func gh_addclosefrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32
@_silgen_name("posix_spawn_file_actions_addchdir_np")
private func gh_addchdir(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ path: UnsafePointer<CChar>) -> Int32

/// A child process for test fixtures, started with `posix_spawn`.
///
/// Not Foundation's `Process`: its `run()` walks `/proc/self/fd` to find descriptors to
/// close and crashed the test process (SIGSEGV in `findMaximumOpenFromProcSelfFD`) when
/// hundreds of parallel tests held many descriptors. Here the child closes every
/// descriptor above 2 itself (`posix_spawn_file_actions_addclosefrom_np`, glibc ≥ 2.34),
/// so it inherits none of the tests' sockets or pipes. Same shape as the `Process` API
/// the fixtures used.
public final class ChildProcess: @unchecked Sendable {
    // Configured before `run()` on one thread; the state below is lock-protected.
    public var executableURL: URL?
    public var arguments: [String] = []
    public var environment: [String: String]?
    public var currentDirectoryURL: URL?
    /// `FileHandle` or `Pipe` (the child gets the read end of a pipe for stdin, the write
    /// end for stdout/stderr); `nil` inherits.
    public var standardInput: Any?
    public var standardOutput: Any?
    public var standardError: Any?

    private struct State {
        var pid: pid_t = 0
        var exitStatus: Int32?
    }
    private let state = NIOLockedValueBox(State())

    public init() {}

    public var processIdentifier: Int32 { state.withLockedValue { $0.pid } }

    public func run() throws {
        guard let path = executableURL?.path else { throw ChildProcessError(description: "no executable") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, stream, reading) in [(Int32(0), standardInput, true), (1, standardOutput, false), (2, standardError, false)] {
            if let fd = Self.descriptor(stream, reading: reading) {
                posix_spawn_file_actions_adddup2(&actions, fd, target)
            }
        }
        _ = gh_addclosefrom(&actions, 3)
        if let dir = currentDirectoryURL?.path { _ = gh_addchdir(&actions, dir) }
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        let env = environment ?? ProcessInfo.processInfo.environment
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        // The child starts with no signal blocked and default dispositions, as from a
        // shell: posix_spawn would hand it the spawning thread's mask, and a test's
        // (cooperative pool or NIO) thread may block SIGTERM/SIGINT — a child that never
        // unblocks them itself (nginx in single-process mode) would then ignore them.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGPIPE, SIGUSR1, SIGUSR2, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw ChildProcessError(description: "posix_spawn \(path) failed: \(rc)") }
        state.withLockedValue { $0.pid = pid }
        // The parent's copies of the child's pipe ends are closed, so EOF arrives.
        for (stream, reading) in [(standardInput, true), (standardOutput, false), (standardError, false)] {
            if let pipe = stream as? Pipe { try? (reading ? pipe.fileHandleForReading : pipe.fileHandleForWriting).close() }
        }
    }

    private static func descriptor(_ stream: Any?, reading: Bool) -> Int32? {
        if let handle = stream as? FileHandle { return handle.fileDescriptor }
        if let pipe = stream as? Pipe { return (reading ? pipe.fileHandleForReading : pipe.fileHandleForWriting).fileDescriptor }
        return nil
    }

    /// Reaps the child if it has exited (never blocks).
    public var isRunning: Bool {
        state.withLockedValue { s in
            guard s.pid > 0, s.exitStatus == nil else { return false }
            var status: Int32 = 0
            let r = waitpid(s.pid, &status, WNOHANG)
            if r == s.pid { s.exitStatus = Self.decode(status) }
            return s.exitStatus == nil
        }
    }

    public var terminationStatus: Int32 {
        _ = isRunning
        return state.withLockedValue { $0.exitStatus ?? -1 }
    }

    /// Blocks until the child exits (call it off the cooperative pool, or right after SIGKILL).
    public func waitUntilExit() {
        let pid = state.withLockedValue { $0.exitStatus == nil ? $0.pid : 0 }
        guard pid > 0 else { return }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        state.withLockedValue { if $0.exitStatus == nil { $0.exitStatus = Self.decode(status) } }
    }

    public func interrupt() {
        let pid = processIdentifier
        if pid > 0 { kill(pid, SIGINT) }
    }

    /// Exit code, or 128 + signal for a killed child (as a shell reports it).
    private static func decode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}

public struct ChildProcessError: Error, CustomStringConvertible {
    public let description: String
}

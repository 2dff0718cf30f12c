#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import GatehouseCore
import Logging
import ServiceLifecycle
import UnixSignals

/// `gatehouse serve` as a swift-service-lifecycle `Service`: runs until SIGTERM/SIGINT,
/// then drains and returns, so the process exits 0. With a `reload` source, SIGHUP
/// re-reads the configuration (the nginx/HAProxy convention) and swaps it in without
/// dropping a connection.
public struct GatehouseService: Service {
    let configuration: GatehouseConfiguration
    let logger: Logger
    let onStart: @Sendable (GatehouseInstance) -> Void
    /// Reads the configuration again (file, environment, flags); `nil`: SIGHUP is ignored.
    let reload: (@Sendable () throws -> GatehouseConfiguration)?
    /// A file whose changes trigger a reload like SIGHUP (`serve --watch-config`), polled
    /// every `interval`: a Kubernetes ConfigMap volume updates by swapping a symlink, which
    /// inotify on the file itself misses, while `stat` through the link sees it.
    ///
    /// Make it before reading the configuration: the file as it is now is the baseline, so
    /// a change made between the read and the first poll still reloads. (Taken when the
    /// watching began, a write in that window was missed until the next one.)
    public struct Watch: Sendable {
        public var path: String
        public var interval: Duration
        let baseline: FileStamp?
        public init(path: String, interval: Duration = .seconds(2)) {
            self.path = path
            self.interval = interval
            self.baseline = FileStamp(path: path)
        }
    }
    let watch: Watch?

    public init(
        configuration: GatehouseConfiguration, logger: Logger,
        reload: (@Sendable () throws -> GatehouseConfiguration)? = nil,
        watch: Watch? = nil,
        onStart: @escaping @Sendable (GatehouseInstance) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.logger = logger
        self.reload = reload
        self.watch = watch
        self.onStart = onStart
    }

    public func run() async throws {
        // Trapped before the listeners open: a SIGHUP that arrives early must not kill the
        // process (its default action).
        let hangups = reload == nil ? nil : await UnixSignalsSequence(trapping: .sighup)
        let openFiles = OpenFileLimit.raiseToHardLimit()
        let instance = try await GatehouseInstance.start(configuration: configuration, logger: logger)
        logger.info("gatehouse listening", metadata: [
            "listen": "\(instance.proxyAddress)", "admin": "\(instance.adminAddress)",
            "max_open_files": "\(openFiles.map(String.init) ?? "unknown")",
        ])
        onStart(instance)
        let startupCode = StartupCodePages.release()
        if startupCode > 0 { logger.info("startup code pages released", metadata: ["resident_kb": "\(startupCode)"]) }
        if let hangups, let reload {
            // Triggers are handled one at a time; any that arrive during a reload collapse
            // into one more reload, which reads the newest file.
            let (triggers, trigger) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(1))
            let watch = self.watch
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await _ in hangups { trigger.yield("SIGHUP") }
                }
                if let watch {
                    group.addTask {
                        var last = watch.baseline
                        while !Task.isCancelled {
                            try? await Task.sleep(for: watch.interval)
                            let now = FileStamp(path: watch.path)
                            if now != last, now != nil {
                                last = now
                                trigger.yield("configuration file changed")
                            }
                        }
                    }
                }
                for await reason in triggers.cancelOnGracefulShutdown() {
                    await Self.reload(instance, from: reload, reason: reason, logger: logger)
                }
                group.cancelAll()
            }
        } else {
            try? await gracefulShutdown()
        }
        logger.info("draining")
        await instance.shutdown()
        logger.info("stopped")
    }

    /// One SIGHUP: a configuration that does not load or build is refused with one log
    /// line and the running one keeps serving.
    static func reload(
        _ instance: GatehouseInstance, from source: @Sendable () throws -> GatehouseConfiguration, reason: String, logger: Logger
    ) async {
        logger.info("\(reason): reloading configuration")
        do {
            let configuration = try source()
            let outcome = try await instance.reload(configuration: configuration)
            var metadata: Logger.Metadata = ["apps": "\(outcome.apps.joined(separator: ","))"]
            if !outcome.needsRestart.isEmpty {
                metadata["needs_restart"] = "\(outcome.needsRestart.joined(separator: ","))"
                logger.warning("changed settings keep their running values until a restart", metadata: ["settings": metadata["needs_restart"] ?? ""])
            }
            logger.info("configuration reloaded", metadata: metadata)
        } catch {
            logger.error("configuration reload rejected, still serving the previous configuration: \(error)")
        }
    }

    /// Runs the service until a signal stops it.
    public static func runUntilSignalled(_ service: some Service, logger: Logger) async throws {
        let group = ServiceGroup(
            services: [service],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        try await group.run()
    }
}

/// What tells a changed file: modification time, size and inode (an atomic rename or a
/// ConfigMap symlink swap changes the inode even within one second).
struct FileStamp: Equatable {
    var seconds: Int
    var nanoseconds: Int
    var size: Int
    var inode: UInt64

    /// `nil` while the file cannot be read (a swap in progress): no reload then.
    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        seconds = Int(info.st_mtim.tv_sec)
        nanoseconds = Int(info.st_mtim.tv_nsec)
        size = Int(info.st_size)
        inode = UInt64(info.st_ino)
    }
}

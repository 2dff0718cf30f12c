import Foundation
import Testing
import Yams
@testable import GatehouseCore

/// The deployment files (Dockerfile, deploy/**) parse and say what matters: probes on the
/// admin port, secrets as files, a non-root read-only container with resources, the meter
/// volume the shipper reads, and only environment variables the configuration loader knows.
/// The loader itself reads each container's environment (secret paths pointed at
/// temporary files), so a renamed variable or a bad value fails here, not in a cluster.
@Suite struct DeployFilesTests {
    // MARK: - Files

    /// The repository root: Tests/GatehouseCoreTests/<this file> → ../../..
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static func text(_ relativePath: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(relativePath), encoding: .utf8)
    }

    /// Every `*.yaml` / `*.yml` under deploy/, relative to the root, sorted.
    static func deployYAMLFiles() -> [String] {
        let deploy = root.appendingPathComponent("deploy")
        guard let walker = FileManager.default.enumerator(atPath: deploy.path) else { return [] }
        var found: [String] = []
        while let path = walker.nextObject() as? String {
            if path.hasSuffix(".yaml") || path.hasSuffix(".yml") { found.append("deploy/" + path) }
        }
        return found.sorted()
    }

    /// All documents of a (multi-document) YAML file, each a mapping.
    static func documents(_ relativePath: String) throws -> [[String: Any]] {
        var result: [[String: Any]] = []
        for document in try Yams.load_all(yaml: try text(relativePath)) {
            guard let mapping = document as? [String: Any] else {
                Issue.record("\(relativePath): a document that is not a mapping")
                continue
            }
            result.append(mapping)
        }
        return result
    }

    static func document(_ relativePath: String) throws -> [String: Any] {
        let all = try documents(relativePath)
        try #require(all.count == 1, "\(relativePath): expected one document")
        return all[0]
    }

    // MARK: - Dockerfile

    struct Dockerfile {
        /// Lines with continuations joined, comments and blanks dropped.
        var instructions: [(keyword: String, arguments: String)] = []

        init(_ text: String) {
            var pending = ""
            for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
                let line = raw.trimmingCharacters(in: .whitespaces)
                if pending.isEmpty && (line.isEmpty || line.hasPrefix("#")) { continue }
                if line.hasSuffix("\\") {
                    pending += line.dropLast() + " "
                    continue
                }
                let whole = pending + line
                pending = ""
                let parts = whole.split(separator: " ", maxSplits: 1)
                instructions.append((String(parts[0]).uppercased(), parts.count > 1 ? String(parts[1]) : ""))
            }
        }

        func all(_ keyword: String) -> [String] {
            instructions.filter { $0.keyword == keyword }.map(\.arguments)
        }

        /// `ENV NAME=VALUE` (one per line, as scripts/container-smoke.sh requires).
        var environment: [String: String] {
            var result: [String: String] = [:]
            for argument in all("ENV") {
                let pair = argument.split(separator: "=", maxSplits: 1)
                if pair.count == 2 { result[String(pair[0])] = String(pair[1]) }
            }
            return result
        }
    }

    static func dockerfile() throws -> Dockerfile { Dockerfile(try text("Dockerfile")) }

    /// The release build's link-time optimisation flag (Dockerfile `SWIFT_LTO`).
    static let releaseLTO = "--experimental-lto-mode=full"

    /// The release link's code layout (Dockerfile `SWIFT_LAYOUT`), the call graph's path
    /// left out: the image reads it from /src, the scripts from the checkout.
    static func releaseLayout(at path: String) -> String {
        "-Xlinker --call-graph-ordering-file=\(path)deploy/call-graph.txt -Xlinker --no-warn-symbol-ordering"
    }

    /// Every variable the environment overlay reads (SPEC "Configuration").
    static let knownVariables = Set(EnvironmentOverlay.settings.map(\.variable))

    @Test func dockerfileIsMultiStageNonRootAndProbesHealthz() throws {
        let file = try Self.dockerfile()
        #expect(file.all("FROM").count >= 2, "a build stage and a runtime stage")
        let runs = file.all("RUN").joined(separator: "\n")
        #expect(runs.contains("swift build -c release --static-swift-stdlib --product gatehouse"))
        // Runtime exclusivity checks stay on unless the builder opts out (README "Deployment").
        #expect(runs.contains("--scratch-path .build-static $SWIFT_LTO $SWIFT_LAYOUT $SWIFT_BUILD_FLAGS"))
        #expect(file.all("ARG").contains("SWIFT_BUILD_FLAGS=\"\""), "SWIFT_BUILD_FLAGS defaults to no flags")
        #expect(!runs.contains("enforce-exclusivity"))
        // Link-time optimisation by default; the scripts that build "the image's binary"
        // outside a container (the smoke test, the benchmarks) default to the same.
        #expect(file.all("ARG").contains("SWIFT_LTO=\"\(Self.releaseLTO)\""))
        // The hot code laid out by the committed call graph, copied into the build stage
        // (.dockerignore leaves deploy/ out but for it).
        #expect(file.all("ARG").contains("SWIFT_LAYOUT=\"\(Self.releaseLayout(at: "/src/"))\""))
        #expect(file.all("COPY").contains("deploy/call-graph.txt ./deploy/call-graph.txt"))
        #expect(try Self.text(".dockerignore").split(separator: "\n").contains("!deploy/call-graph.txt"))
        for script in ["scripts/container-smoke.sh", "scripts/bench.sh"] {
            let text = try Self.text(script)
            #expect(text.contains("${SWIFT_LTO-\(Self.releaseLTO)}"), "\(script) builds as the image does")
            #expect(text.contains("${SWIFT_LAYOUT-\(Self.releaseLayout(at: "$ROOT/"))}"), "\(script) links as the image does")
        }

        let user = try #require(file.all("USER").last, "a USER instruction")
        let name = String(user.split(separator: ":")[0])
        #expect(!["root", "0"].contains(name), "USER \(user) is root")

        let exposed = Set(file.all("EXPOSE").flatMap { $0.split(separator: " ").map(String.init) })
        #expect(exposed.isSuperset(of: ["8080", "9090"]))

        let healthcheck = try #require(file.all("HEALTHCHECK").last)
        #expect(healthcheck.contains("/healthz") && healthcheck.contains("9090"))
    }

    /// The linker reads the call graph as "caller callee count" lines and stops the build
    /// on any other (a comment aside); a graph without the request path's functions would
    /// lay nothing out that matters.
    @Test func theCallGraphForTheLinkerIsWellFormedAndCoversTheRequestPath() throws {
        let lines = try Self.text("deploy/call-graph.txt").split(separator: "\n")
            .filter { !$0.hasPrefix("#") }
        #expect(lines.count > 500, "\(lines.count) edges")
        var functions = Set<Substring>()
        for line in lines {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            #expect(fields.count == 3 && (UInt64(fields[2]) ?? 0) > 0, "not an edge: \(line)")
            functions.formUnion(fields.prefix(2))
        }
        // llhttp's parser, the Swift runtime's reference counting, and functions of
        // Gatehouse's proxy and auth modules and of NIO's sockets (mangled names).
        #expect(functions.contains("c_nio_llhttp__internal__run"))
        #expect(functions.contains("swift_retain"))
        for module in ["14GatehouseProxy", "13GatehouseAuth", "8NIOPosix"] {
            #expect(functions.contains { $0.hasPrefix("$s" + module) }, "nothing of \(module)")
        }
    }

    @Test func dockerfileEnvironmentIsKnownToTheLoaderAndListensForProbes() throws {
        let environment = try Self.dockerfile().environment
        #expect(!environment.isEmpty)
        for name in environment.keys where name.hasPrefix("GATEHOUSE_") || name.hasPrefix("CLERK_") {
            #expect(Self.knownVariables.contains(name), "Dockerfile ENV \(name) is not a configuration variable")
        }
        // The image's defaults plus the one setting an operator must add load as they are.
        var withApp = environment
        withApp["GATEHOUSE_UPSTREAM"] = "http://127.0.0.1:3000"
        withApp["GATEHOUSE_API_UPSTREAM"] = "https://api.example.com"
        withApp["GATEHOUSE_OWNER_KEY"] = "sk_test"
        withApp["GATEHOUSE_JWKS_URL"] = "https://issuer.example/jwks.json"
        let config = try ConfigurationLoader.load(ConfigurationSources(environment: withApp, workingDirectory: "/var/lib/gatehouse"))
        #expect(config.listen == ListenAddress(host: "0.0.0.0", port: 8080))
        #expect(config.adminListen == ListenAddress(host: "0.0.0.0", port: 9090))
        // The meter logs and the user store live on the image's volume.
        let volume = try Self.dockerfile().all("VOLUME").joined()
        #expect(volume.contains("/var/lib/gatehouse"))
        #expect(config.metering.dir.hasPrefix("/var/lib/gatehouse/"))
        #expect(config.users.store.hasPrefix("sqlite:/var/lib/gatehouse/"))
    }

    // MARK: - YAML files

    @Test func everyDeployYAMLFileParses() throws {
        let files = Self.deployYAMLFiles()
        #expect(files.contains("deploy/kubernetes/gatehouse-sidecar.yaml"))
        #expect(files.contains("deploy/docker-compose.yml"))
        #expect(files.contains("deploy/fluent-bit/fluent-bit.yaml"))
        for file in files {
            #expect(try !Self.documents(file).isEmpty, "\(file) has no document")
        }
    }

    // MARK: - Kubernetes

    static let kubernetesFile = "deploy/kubernetes/gatehouse-sidecar.yaml"

    struct Kubernetes {
        var documents: [[String: Any]]

        func objects(_ kind: String) -> [[String: Any]] { documents.filter { $0["kind"] as? String == kind } }

        var podSpec: [String: Any] {
            get throws {
                let deployment = try #require(objects("Deployment").first, "a Deployment")
                let spec = try #require(deployment["spec"] as? [String: Any])
                let template = try #require(spec["template"] as? [String: Any])
                return try #require(template["spec"] as? [String: Any])
            }
        }

        func container(_ name: String) throws -> [String: Any] {
            let containers = try #require(try podSpec["containers"] as? [[String: Any]])
            return try #require(containers.first { $0["name"] as? String == name }, "container \(name)")
        }

        func volume(_ name: String) throws -> [String: Any] {
            let volumes = try #require(try podSpec["volumes"] as? [[String: Any]])
            return try #require(volumes.first { $0["name"] as? String == name }, "volume \(name)")
        }
    }

    static func kubernetes() throws -> Kubernetes { Kubernetes(documents: try documents(kubernetesFile)) }

    /// A probe's or Service's port, named or numbered, as the container's port number.
    static func portNumber(_ port: Any?, in container: [String: Any]) -> Int? {
        if let number = port as? Int { return number }
        guard let name = port as? String, let ports = container["ports"] as? [[String: Any]] else { return nil }
        return ports.first { $0["name"] as? String == name }?["containerPort"] as? Int
    }

    static func environment(of container: [String: Any]) -> [String: String] {
        var result: [String: String] = [:]
        for entry in container["env"] as? [[String: Any]] ?? [] {
            if let name = entry["name"] as? String { result[name] = entry["value"] as? String ?? "" }
        }
        return result
    }

    /// The mount whose path is a prefix of `path`, if any.
    static func mount(containing path: String, in container: [String: Any]) -> [String: Any]? {
        (container["volumeMounts"] as? [[String: Any]] ?? []).first { mount in
            guard let mountPath = mount["mountPath"] as? String else { return false }
            return path == mountPath || path.hasPrefix(mountPath + "/")
        }
    }

    @Test func kubernetesProbesHitTheAdminPort() throws {
        let k8s = try Self.kubernetes()
        let gatehouse = try k8s.container("gatehouse")
        let admin = try #require(ListenAddress(parsing: try Self.dockerfile().environment["GATEHOUSE_ADMIN_LISTEN"] ?? ""))
        let readiness = try #require((gatehouse["readinessProbe"] as? [String: Any])?["httpGet"] as? [String: Any])
        let liveness = try #require((gatehouse["livenessProbe"] as? [String: Any])?["httpGet"] as? [String: Any])
        #expect(readiness["path"] as? String == "/readyz")
        #expect(liveness["path"] as? String == "/healthz")
        #expect(Self.portNumber(readiness["port"], in: gatehouse) == admin.port)
        #expect(Self.portNumber(liveness["port"], in: gatehouse) == admin.port)

        // The Service sends traffic to the proxy port, never the admin one.
        let service = try #require(k8s.objects("Service").first)
        let ports = try #require((service["spec"] as? [String: Any])?["ports"] as? [[String: Any]])
        let proxy = try #require(ListenAddress(parsing: try Self.dockerfile().environment["GATEHOUSE_LISTEN"] ?? ""))
        #expect(!ports.isEmpty)
        for port in ports {
            #expect(Self.portNumber(port["targetPort"], in: gatehouse) == proxy.port)
        }
    }

    @Test func kubernetesSecretsAreFilesFromASecretVolume() throws {
        let k8s = try Self.kubernetes()
        let gatehouse = try k8s.container("gatehouse")
        let environment = Self.environment(of: gatehouse)
        let fileVariables = environment.keys.filter { $0.hasSuffix("_FILE") }.sorted()
        #expect(fileVariables.contains("GATEHOUSE_OWNER_KEY_FILE"))
        #expect(fileVariables.contains("CLERK_SECRET_KEY_FILE"))
        for name in ["GATEHOUSE_OWNER_KEY", "CLERK_SECRET_KEY"] {
            #expect(environment[name] == nil, "\(name) inline: use \(name)_FILE and a Secret")
        }
        let secretNames = Set(k8s.objects("Secret").compactMap { ($0["metadata"] as? [String: Any])?["name"] as? String })
        for name in fileVariables {
            let path = environment[name] ?? ""
            let mount = try #require(Self.mount(containing: path, in: gatehouse), "\(name)=\(path) is on no volume")
            #expect(mount["readOnly"] as? Bool == true)
            let volume = try k8s.volume(mount["name"] as? String ?? "")
            let secret = try #require(volume["secret"] as? [String: Any], "\(name): volume is not a Secret")
            let secretName = try #require(secret["secretName"] as? String)
            #expect(secretNames.contains(secretName), "Secret \(secretName) is not defined in the file")
            // The key the file names exists in the example Secret.
            let key = String(path.split(separator: "/").last ?? "")
            let example = try #require(k8s.objects("Secret").first {
                ($0["metadata"] as? [String: Any])?["name"] as? String == secretName
            })
            let data = (example["stringData"] as? [String: Any] ?? [:]).merging(example["data"] as? [String: Any] ?? [:]) { a, _ in a }
            #expect(data[key] != nil, "Secret \(secretName) has no key \(key)")
        }
        for name in environment.keys where name.hasPrefix("GATEHOUSE_") || name.hasPrefix("CLERK_") {
            #expect(Self.knownVariables.contains(name), "\(name) is not a configuration variable")
        }
    }

    @Test func kubernetesContainersAreNonRootReadOnlyAndBounded() throws {
        let k8s = try Self.kubernetes()
        let pod = try k8s.podSpec
        let podSecurity = pod["securityContext"] as? [String: Any] ?? [:]
        let containers = try #require(pod["containers"] as? [[String: Any]])
        #expect(containers.count >= 3, "app, gatehouse and the log shipper")
        for container in containers {
            let name = container["name"] as? String ?? "?"
            let security = container["securityContext"] as? [String: Any] ?? [:]
            let nonRoot = security["runAsNonRoot"] as? Bool ?? podSecurity["runAsNonRoot"] as? Bool
            #expect(nonRoot == true, "\(name): runAsNonRoot")
            let uid = security["runAsUser"] as? Int ?? podSecurity["runAsUser"] as? Int
            #expect(uid != nil && uid != 0, "\(name): runAsUser")
            #expect(security["readOnlyRootFilesystem"] as? Bool == true, "\(name): readOnlyRootFilesystem")
            #expect(security["allowPrivilegeEscalation"] as? Bool == false, "\(name): allowPrivilegeEscalation")
            let drop = (security["capabilities"] as? [String: Any])?["drop"] as? [String] ?? []
            #expect(drop.contains("ALL"), "\(name): capabilities.drop ALL")
            #expect((container["resources"] as? [String: Any])?["requests"] != nil, "\(name): resources.requests")
            #expect(((container["resources"] as? [String: Any])?["limits"] as? [String: Any])?["memory"] != nil,
                    "\(name): a memory limit")
        }
        let gatehouse = try k8s.container("gatehouse")
        let resources = try #require(gatehouse["resources"] as? [String: Any])
        for part in ["requests", "limits"] {
            let values = try #require(resources[part] as? [String: Any], "gatehouse resources.\(part)")
            #expect(values["cpu"] != nil && values["memory"] != nil, "gatehouse resources.\(part) cpu and memory")
        }
        let imageUser = try Self.dockerfile().all("USER").last ?? ""
        #expect(podSecurity["runAsUser"] as? Int == Int(imageUser.split(separator: ":")[0]), "the image's uid")
    }

    /// The configuration the Kubernetes example's gatehouse container loads: the image's
    /// environment under the container's, with its secret files as the kubelet mounts them.
    static func kubernetesConfiguration() throws -> GatehouseConfiguration {
        let gatehouse = try kubernetes().container("gatehouse")
        var environment = try Self.dockerfile().environment.merging(Self.environment(of: gatehouse)) { _, container in container }
        // Secret files as the kubelet would mount them.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("deploy-files-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for (name, path) in environment where name.hasSuffix("_FILE") {
            let local = folder.appendingPathComponent(String(path.split(separator: "/").last ?? "secret"))
            try "secret-from-\(name)\n".write(to: local, atomically: true, encoding: .utf8)
            environment[name] = local.path
        }
        return try ConfigurationLoader.load(ConfigurationSources(environment: environment, workingDirectory: "/var/lib/gatehouse"))
    }

    @Test func kubernetesGatehouseEnvironmentLoads() throws {
        let k8s = try Self.kubernetes()
        let config = try Self.kubernetesConfiguration()
        let app = try #require(config.apps.first)
        #expect(app.upstream.host == "127.0.0.1" && app.upstream.port == 3000)
        #expect(app.api.ownerKey.value == "secret-from-GATEHOUSE_OWNER_KEY_FILE")
        #expect(app.auth.secretKey?.value == "secret-from-CLERK_SECRET_KEY_FILE")
        #expect(config.adminListen.port == 9090 && config.adminListen.host == "0.0.0.0")

        // The app container listens where Gatehouse sends it.
        let appEnvironment = Self.environment(of: try k8s.container("app"))
        #expect(appEnvironment["PORT"] == String(app.upstream.port))
    }

    /// SIGTERM drains for up to `drain_timeout_ms`, then hands the meter records to the
    /// writer, syncs the logs and writes pending user updates; a runtime that kills the
    /// container sooner loses the last records. Kubernetes counts the preStop hook against
    /// the grace period (the example had 30 s for a 5 s hook and a 30 s drain), and
    /// Compose's `stop_grace_period` is all a drain gets. Ten seconds are left for the rest.
    @Test func stopGracePeriodsOutlastTheDrain() throws {
        let drain = (try Self.kubernetesConfiguration().drainTimeoutMs + 999) / 1000
        let k8s = try Self.kubernetes()
        let grace = try #require(try k8s.podSpec["terminationGracePeriodSeconds"] as? Int, "terminationGracePeriodSeconds")
        let lifecycle = try k8s.container("gatehouse")["lifecycle"] as? [String: Any]
        let preStop = ((lifecycle?["preStop"] as? [String: Any])?["exec"] as? [String: Any])?["command"] as? [String] ?? []
        let hook = preStop.first == "sleep" ? preStop.dropFirst().first.flatMap { Int($0) } ?? 0 : 0
        #expect(grace >= hook + drain + 10, "grace \(grace) s < preStop \(hook) s + drain \(drain) s + 10 s")

        let services = try #require(try Self.document(Self.composeFile)["services"] as? [String: Any])
        let gatehouse = try #require(services["gatehouse"] as? [String: Any])
        let period = try #require(gatehouse["stop_grace_period"] as? String, "stop_grace_period (Docker's default is 10 s)")
        let seconds = try #require(period.hasSuffix("s") ? Int(period.dropLast()) : nil, "stop_grace_period in seconds: \(period)")
        // Compose's Gatehouse sets no drain of its own either: the same default applies.
        #expect(seconds >= drain + 10, "stop_grace_period \(seconds) s < drain \(drain) s + 10 s")
    }

    @Test func kubernetesMeterVolumeIsSharedWithTheShipper() throws {
        let k8s = try Self.kubernetes()
        let gatehouse = try k8s.container("gatehouse")
        let shipper = try k8s.container("meter-shipper")
        let imageMeterDir = try Self.dockerfile().environment["GATEHOUSE_METER_DIR"] ?? ""
        let meterDir = Self.environment(of: gatehouse)["GATEHOUSE_METER_DIR"] ?? imageMeterDir
        let gatehouseMount = try #require(Self.mount(containing: meterDir, in: gatehouse), "the meter dir \(meterDir) is on no volume")
        #expect(gatehouseMount["readOnly"] as? Bool != true)
        let volume = try k8s.volume(gatehouseMount["name"] as? String ?? "")
        #expect(volume["persistentVolumeClaim"] != nil || volume["emptyDir"] != nil)

        // The shipper reads the same volume, at a path its tail input covers.
        let tailPath = try Self.fluentBitTailPath(try Self.text(Self.fluentBitFile))
        let shipperMount = try #require(Self.mount(containing: tailPath, in: shipper), "the shipper has no mount for \(tailPath)")
        #expect(shipperMount["name"] as? String == gatehouseMount["name"] as? String, "the shipper reads another volume")
        #expect(shipperMount["readOnly"] as? Bool == true)
        #expect(tailPath.hasPrefix(meterDir + "/"), "tail path \(tailPath) is outside the meter dir \(meterDir)")

        // The shipper's config is the standalone file, verbatim.
        let configMaps = k8s.objects("ConfigMap")
        let embedded = configMaps.compactMap { ($0["data"] as? [String: Any])?["fluent-bit.yaml"] as? String }.first
        #expect(embedded == (try Self.text(Self.fluentBitFile)), "ConfigMap fluent-bit.yaml differs from \(Self.fluentBitFile)")
        let args = (shipper["args"] as? [String] ?? []) + (shipper["command"] as? [String] ?? [])
        let configPath = try #require(args.first { $0.hasSuffix("fluent-bit.yaml") })
        let configMount = try #require(Self.mount(containing: configPath, in: shipper))
        #expect((try k8s.volume(configMount["name"] as? String ?? ""))["configMap"] != nil)
        #expect(Self.environment(of: shipper).keys.contains("GATEHOUSE_INSTANCE"), "the shipper tails only its pod's files")
    }

    // MARK: - Fluent Bit

    static let fluentBitFile = "deploy/fluent-bit/fluent-bit.yaml"

    /// The path of the tail input that parses JSON.
    static func fluentBitTailPath(_ text: String) throws -> String {
        let config = try #require(try Yams.load(yaml: text) as? [String: Any])
        let pipeline = try #require(config["pipeline"] as? [String: Any])
        let inputs = try #require(pipeline["inputs"] as? [[String: Any]])
        let tail = try #require(inputs.first { $0["name"] as? String == "tail" }, "a tail input")
        let parserName = try #require(tail["parser"] as? String)
        let parsers = try #require(config["parsers"] as? [[String: Any]])
        let parser = try #require(parsers.first { $0["name"] as? String == parserName })
        #expect(parser["format"] as? String == "json")
        #expect(parser["time_key"] as? String == "ts")
        #expect(!(pipeline["outputs"] as? [[String: Any]] ?? []).isEmpty)
        let path = try #require(tail["path"] as? String)
        #expect(path.hasSuffix(".jsonl") && path.contains("/*/"), "tail path \(path): <org>/<day>.<instance>.jsonl")
        return path
    }

    @Test func fluentBitTailsTheImagesMeterDir() throws {
        let path = try Self.fluentBitTailPath(try Self.text(Self.fluentBitFile))
        let meterDir = try #require(try Self.dockerfile().environment["GATEHOUSE_METER_DIR"])
        #expect(path.hasPrefix(meterDir + "/*/"))
    }

    // MARK: - Compose

    static let composeFile = "deploy/docker-compose.yml"

    static func composeEnvironment(_ service: [String: Any]) -> [String: String] {
        if let list = service["environment"] as? [String] {
            return Dictionary(list.map { entry in
                let pair = entry.split(separator: "=", maxSplits: 1)
                return (String(pair[0]), pair.count > 1 ? String(pair[1]) : "")
            }, uniquingKeysWith: { _, last in last })
        }
        return (service["environment"] as? [String: Any] ?? [:]).mapValues { "\($0)" }
    }

    @Test func composeHasTheServicesVolumeSecretsAndHealthcheck() throws {
        let compose = try Self.document(Self.composeFile)
        let services = try #require(compose["services"] as? [String: Any])
        for name in ["app", "gatehouse", "meter-shipper"] {
            #expect(services[name] != nil, "service \(name)")
        }
        let gatehouse = try #require(services["gatehouse"] as? [String: Any])
        let healthcheck = try #require(gatehouse["healthcheck"] as? [String: Any])
        let test = (healthcheck["test"] as? [String])?.joined(separator: " ") ?? healthcheck["test"] as? String ?? ""
        #expect(test.contains("127.0.0.1:9090/readyz") || test.contains("127.0.0.1:9090/healthz"), "healthcheck \(test)")
        #expect(gatehouse["read_only"] as? Bool == true)
        let user = gatehouse["user"] as? String ?? ""
        #expect(!user.isEmpty && !user.hasPrefix("0") && !user.hasPrefix("root"))

        // One named volume holds the meter logs; the shipper mounts it read-only.
        let volumes = try #require(compose["volumes"] as? [String: Any])
        let gatehouseVolumes = gatehouse["volumes"] as? [String] ?? []
        let data = try #require(gatehouseVolumes.first { $0.hasSuffix(":/var/lib/gatehouse") }, "a volume at /var/lib/gatehouse")
        let volumeName = String(data.split(separator: ":")[0])
        #expect(volumes.keys.contains(volumeName))
        let shipper = try #require(services["meter-shipper"] as? [String: Any])
        let shipperVolumes = shipper["volumes"] as? [String] ?? []
        #expect(shipperVolumes.contains("\(volumeName):/var/lib/gatehouse:ro"))
        let configMount = try #require(shipperVolumes.first { $0.contains("fluent-bit.yaml") })
        let source = String(configMount.split(separator: ":")[0])
        #expect(FileManager.default.fileExists(atPath: Self.root.appendingPathComponent("deploy").appendingPathComponent(source).path),
                "\(source) (relative to deploy/) does not exist")
        #expect(Self.composeEnvironment(shipper)["GATEHOUSE_INSTANCE"] == gatehouse["hostname"] as? String,
                "the shipper tails the files of gatehouse's hostname")

        // Secrets are files under /run/secrets, named through *_FILE variables.
        let secrets = try #require(compose["secrets"] as? [String: Any])
        let granted = Set(gatehouse["secrets"] as? [String] ?? [])
        let environment = Self.composeEnvironment(gatehouse)
        let fileVariables = environment.filter { $0.key.hasSuffix("_FILE") }
        #expect(fileVariables.keys.contains("GATEHOUSE_OWNER_KEY_FILE"))
        for (name, path) in fileVariables {
            #expect(path.hasPrefix("/run/secrets/"), "\(name)=\(path)")
            let secret = String(path.dropFirst("/run/secrets/".count))
            #expect(granted.contains(secret), "\(name): the service is not given secret \(secret)")
            #expect((secrets[secret] as? [String: Any])?["file"] != nil, "secret \(secret) has no file")
        }
        for name in environment.keys where name.hasPrefix("GATEHOUSE_") || name.hasPrefix("CLERK_") {
            #expect(Self.knownVariables.contains(name), "\(name) is not a configuration variable")
        }
    }
}

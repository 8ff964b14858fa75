import Foundation
import KeelsonCore
import KeelsonYAML
import Yams

/// Where and how to reach one Kubernetes API server, resolved as kubectl resolves it: a
/// kubeconfig (the runtime's `kubeconfig:` setting, else `KUBECONFIG` — several files merged, the
/// first to set a value winning — else `~/.kube/config`) narrowed to one context, or the
/// credentials a pod is given (in-cluster).
public struct KubeConnection: Sendable, Hashable {
    /// How requests authenticate.
    public enum Authentication: Sendable, Hashable {
        case none
        case token(String)
        /// A token read from this file at each use (projected service-account tokens rotate).
        case tokenFile(String)
        case basic(username: String, password: String)
        case exec(ExecCredentialConfig)
    }

    /// `https://host:port` and any path prefix, without a trailing slash.
    public var server: String
    /// The namespace objects without one are put in (the context's, else `default`).
    public var namespace: String
    /// PEM bytes of the CA bundle that signs the server's certificate (nil: the system's roots).
    public var certificateAuthority: [UInt8]?
    /// PEM bytes of a client certificate and its key (mutual TLS).
    public var clientCertificate: [UInt8]?
    public var clientKey: [UInt8]?
    /// Skip verifying the server's certificate (`insecure-skip-tls-verify`); `runtime check` warns.
    public var insecureSkipTLSVerify = false
    /// The name the server's certificate is checked against, when not the URL's host.
    public var tlsServerName: String?
    public var authentication: Authentication = .none
    /// Where this came from, for messages: "kubeconfig /home/me/.kube/config, context prod".
    public var source: String

    public init(server: String, namespace: String = "default", source: String) {
        self.server = server
        self.namespace = namespace
        self.source = source
    }
}

/// An `exec` credential plugin of a kubeconfig user (`client.authentication.k8s.io/v1`): how EKS,
/// GKE and AKS hand out tokens.
public struct ExecCredentialConfig: Sendable, Hashable {
    public var apiVersion: String
    public var command: String
    public var args: [String]
    public var env: [String: String]
    /// Relative commands are found from here (the kubeconfig's folder), as kubectl does.
    public var directory: String
    public var installHint: String?
}

/// A kubeconfig that cannot be used, and where.
public struct KubeConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    /// 0 when the problem has no line (a reference between entries, a missing file).
    public var line: Int
    public var message: String

    public init(file: String, line: Int = 0, _ message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String { line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)" }
}

/// Reads kubeconfig files and in-cluster credentials into a ``KubeConnection``.
public enum KubeConfigLoader {
    /// The largest kubeconfig (or file it names: CA, certificate, key, token) read: 4 MiB.
    public static let maxFileBytes = 4 << 20

    /// Where a pod finds its service account.
    public static let serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// The connection a runtime uses: its `kubeconfig` setting (a path; `~` is the home folder),
    /// else `KUBECONFIG`, else `~/.kube/config`, else in-cluster credentials; `context` picks a
    /// context other than the current one; `namespace` overrides the context's.
    public static func connection(
        kubeconfig: String?, context: String?, namespace: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
        serviceAccountDirectory: String = serviceAccountDirectory
    ) throws(KubeConfigError) -> KubeConnection {
        let home = environment["HOME"] ?? NSHomeDirectory()
        var paths: [String] = []
        if let kubeconfig, !kubeconfig.isEmpty {
            paths = [expand(kubeconfig, home: home)]
        } else if let list = environment["KUBECONFIG"], !list.isEmpty {
            paths = list.split(separator: ":").map { expand(String($0), home: home) }.filter { !$0.isEmpty }
        } else if FileManager.default.fileExists(atPath: home + "/.kube/config") {
            paths = [home + "/.kube/config"]
        }
        var connection: KubeConnection
        if paths.isEmpty {
            guard let host = environment["KUBERNETES_SERVICE_HOST"], let port = environment["KUBERNETES_SERVICE_PORT"] else {
                throw KubeConfigError(
                    file: "kubeconfig",
                    "no kubeconfig found (no `kubeconfig:` setting, KUBECONFIG is unset, \(home)/.kube/config does not exist) and not running in a pod")
            }
            connection = try inCluster(host: host, port: port, directory: serviceAccountDirectory)
        } else {
            connection = try merged(paths, context: context)
        }
        if let namespace, !namespace.isEmpty { connection.namespace = namespace }
        return connection
    }

    /// In-cluster credentials: the service's address from the environment, the service account's
    /// token (re-read at each use), CA bundle and namespace from `directory`.
    static func inCluster(host: String, port: String, directory: String) throws(KubeConfigError) -> KubeConnection {
        let tokenPath = directory + "/token"
        guard FileManager.default.fileExists(atPath: tokenPath) else {
            throw KubeConfigError(file: tokenPath, "KUBERNETES_SERVICE_HOST is set but there is no service-account token")
        }
        let address = host.contains(":") ? "[\(host)]" : host
        var connection = KubeConnection(server: "https://\(address):\(port)", source: "in-cluster service account (\(directory))")
        connection.certificateAuthority = try read(directory + "/ca.crt", for: "the service account's CA bundle")
        connection.authentication = .tokenFile(tokenPath)
        if let namespace = try? String(contentsOfFile: directory + "/namespace", encoding: .utf8) {
            let trimmed = namespace.trimmingCharacters(in: .whitespacesAndNewlines)
            if !trimmed.isEmpty { connection.namespace = trimmed }
        }
        return connection
    }

    // MARK: kubeconfig files

    /// One kubeconfig file's entries, with the lines they were written on.
    struct File {
        var path: String
        var currentContext: String?
        var clusters: [String: (Node, Int)] = [:]
        var users: [String: (Node, Int)] = [:]
        var contexts: [String: (Node, Int)] = [:]
    }

    /// The files merged as kubectl merges them (the first to name an entry or the current context
    /// wins), resolved for `context` (nil: the current one).
    static func merged(_ paths: [String], context wanted: String?) throws(KubeConfigError) -> KubeConnection {
        var files: [File] = []
        for path in paths {
            // A KUBECONFIG entry that does not exist is skipped, as kubectl does; a named one is not.
            if paths.count > 1, !FileManager.default.fileExists(atPath: path) { continue }
            files.append(try parse(path))
        }
        guard let first = files.first else {
            throw KubeConfigError(file: paths.joined(separator: ":"), "none of the KUBECONFIG files exists")
        }
        let shown = paths.count == 1 ? first.path : paths.joined(separator: ":")
        func lookup(_ table: KeyPath<File, [String: (Node, Int)]>, _ name: String) -> (File, Node, Int)? {
            for file in files { if let (node, line) = file[keyPath: table][name] { return (file, node, line) } }
            return nil
        }
        guard let contextName = wanted ?? files.lazy.compactMap(\.currentContext).first else {
            throw KubeConfigError(file: shown, "no current-context is set and the runtime names no `context:`")
        }
        guard let (contextFile, contextNode, contextLine) = lookup(\.contexts, contextName) else {
            let known = files.flatMap(\.contexts.keys).sorted()
            throw KubeConfigError(
                file: shown, "no context named \(BoundedInput.quoted(contextName)) (known: \(known.isEmpty ? "none" : known.joined(separator: ", ")))")
        }
        let context = Fields(contextNode, file: contextFile.path, line: contextLine, path: "contexts[\(contextName)].context")
        let clusterName = try context.string("cluster", required: true)!
        let userName = try context.string("user")
        guard let (clusterFile, clusterNode, clusterLine) = lookup(\.clusters, clusterName) else {
            throw KubeConfigError(file: contextFile.path, line: contextLine, "context \(BoundedInput.quoted(contextName)) names cluster \(BoundedInput.quoted(clusterName)), which no kubeconfig file defines")
        }
        let cluster = Fields(clusterNode, file: clusterFile.path, line: clusterLine, path: "clusters[\(clusterName)].cluster")
        guard let server = try cluster.string("server", required: true), let url = URL(string: server), let scheme = url.scheme,
              ["https", "http"].contains(scheme.lowercased()), url.host != nil
        else {
            throw cluster.problem("server", "expected an https:// (or http://) URL with a host")
        }
        var connection = KubeConnection(
            server: server.hasSuffix("/") ? String(server.dropLast()) : server,
            namespace: try context.string("namespace").flatMap { $0.isEmpty ? nil : $0 } ?? "default",
            source: "kubeconfig \(shown), context \(contextName)")
        connection.insecureSkipTLSVerify = try cluster.bool("insecure-skip-tls-verify") ?? false
        connection.tlsServerName = try cluster.string("tls-server-name")
        connection.certificateAuthority = try cluster.bytes(data: "certificate-authority-data", file: "certificate-authority")

        if let userName {
            guard let (userFile, userNode, userLine) = lookup(\.users, userName) else {
                throw KubeConfigError(file: contextFile.path, line: contextLine, "context \(BoundedInput.quoted(contextName)) names user \(BoundedInput.quoted(userName)), which no kubeconfig file defines")
            }
            let user = Fields(userNode, file: userFile.path, line: userLine, path: "users[\(userName)].user")
            connection.clientCertificate = try user.bytes(data: "client-certificate-data", file: "client-certificate")
            connection.clientKey = try user.bytes(data: "client-key-data", file: "client-key")
            if (connection.clientCertificate == nil) != (connection.clientKey == nil) {
                throw user.problem("client-certificate", "a client certificate needs its key, and a key its certificate")
            }
            if let token = try user.string("token"), !token.isEmpty {
                connection.authentication = .token(token)
            } else if let file = try user.string("tokenFile"), !file.isEmpty {
                connection.authentication = .tokenFile(user.resolve(file))
            } else if let exec = try user.exec() {
                connection.authentication = .exec(exec)
            } else if let username = try user.string("username"), let password = try user.string("password") {
                connection.authentication = .basic(username: username, password: password)
            } else if user.node["auth-provider"] != nil {
                throw user.problem(
                    "auth-provider", "auth-provider plugins were removed from Kubernetes; use an exec credential plugin (e.g. gke-gcloud-auth-plugin, kubelogin)")
            }
        }
        return connection
    }

    /// Reads one kubeconfig file's entries (not yet checked: an entry is read when it is used).
    static func parse(_ path: String) throws(KubeConfigError) -> File {
        guard let bytes = try read(path, for: "the kubeconfig") else { throw KubeConfigError(file: path, "no such file") }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw KubeConfigError(file: path, "not UTF-8 text") }
        let root: Node?
        switch BoundedYAML.documents(text) {
        case .success(let documents): root = documents.first  // as kubectl, the first document
        case .failure(let problem): throw KubeConfigError(file: path, line: problem.line, "not valid YAML: \(problem.message)")
        }
        var file = File(path: path)
        guard let root else { return file }
        guard case .mapping = root else { throw KubeConfigError(file: path, line: line(root), "a kubeconfig is a mapping (apiVersion: v1, kind: Config, …)") }
        let top = Fields(root, file: path, line: line(root), path: "")
        if let kind = try top.string("kind"), kind != "Config" {
            throw top.problem("kind", "expected Config, found \(BoundedInput.quoted(kind))")
        }
        file.currentContext = try top.string("current-context").flatMap { $0.isEmpty ? nil : $0 }
        for (key, field) in [("clusters", "cluster"), ("users", "user"), ("contexts", "context")] {
            var entries: [String: (Node, Int)] = [:]
            guard let list = root[key], list.null == nil else { continue }
            guard case .sequence(let items) = list else { throw top.problem(key, "expected a list") }
            for (index, item) in items.enumerated() {
                let entry = Fields(item, file: path, line: line(item), path: "\(key)[\(index)]")
                guard case .mapping = item else { throw entry.problem(nil, "expected a mapping with name and \(field)") }
                let name = try entry.string("name", required: true)!
                guard let body = item[field], case .mapping = body else { throw entry.problem(field, "expected a mapping") }
                // The first entry of a name wins, within a file as across files.
                if entries[name] == nil { entries[name] = (body, line(body)) }
            }
            switch key {
            case "clusters": file.clusters = entries
            case "users": file.users = entries
            default: file.contexts = entries
            }
        }
        return file
    }

    /// The fields of one kubeconfig mapping, read with their place for errors.
    struct Fields {
        let node: Node
        let file: String
        let line: Int
        let path: String

        init(_ node: Node, file: String, line: Int, path: String) {
            self.node = node
            self.file = file
            self.line = line
            self.path = path
        }

        func problem(_ key: String?, _ message: String) -> KubeConfigError {
            let at = key.flatMap { node[$0] }.map(KubeConfigLoader.line) ?? line
            let field = [path, key].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ".")
            return KubeConfigError(file: file, line: at, field.isEmpty ? message : "\(field): \(message)")
        }

        func string(_ key: String, required: Bool = false) throws(KubeConfigError) -> String? {
            guard let value = node[key], value.null == nil else {
                if required { throw problem(key, "missing") }
                return nil
            }
            guard case .scalar(let scalar) = value else { throw problem(key, "expected a string") }
            return scalar.string
        }

        func bool(_ key: String) throws(KubeConfigError) -> Bool? {
            guard let text = try string(key) else { return nil }
            switch text.lowercased() {
            case "true": return true
            case "false": return false
            default: throw problem(key, "expected true or false, found \(BoundedInput.quoted(text))")
            }
        }

        /// A file path as kubectl reads it: relative to the kubeconfig's folder.
        func resolve(_ path: String) -> String {
            path.hasPrefix("/") ? path : FilePaths.join(FilePaths.parent(file), path)
        }

        /// Base64 `data`, or the contents of the file `file` names; nil when neither is set.
        func bytes(data: String, file key: String) throws(KubeConfigError) -> [UInt8]? {
            if let encoded = try string(data), !encoded.isEmpty {
                guard let decoded = Data(base64Encoded: encoded.filter { !$0.isWhitespace }) else { throw problem(data, "not base64") }
                return Array(decoded)
            }
            guard let path = try string(key), !path.isEmpty else { return nil }
            let resolved = resolve(path)
            guard let bytes = try KubeConfigLoader.read(resolved, for: "\(self.path).\(key)") else {
                throw problem(key, "no such file \(BoundedInput.quoted(resolved))")
            }
            return bytes
        }

        func exec() throws(KubeConfigError) -> ExecCredentialConfig? {
            guard let execNode = node["exec"], execNode.null == nil else { return nil }
            guard case .mapping = execNode else { throw problem("exec", "expected a mapping") }
            let exec = Fields(execNode, file: file, line: KubeConfigLoader.line(execNode), path: path + ".exec")
            let apiVersion = try exec.string("apiVersion", required: true)!
            guard ExecCredentials.apiVersions.contains(apiVersion) else {
                throw exec.problem("apiVersion", "expected one of \(ExecCredentials.apiVersions.joined(separator: ", ")), found \(BoundedInput.quoted(apiVersion))")
            }
            let command = try exec.string("command", required: true)!
            guard !command.isEmpty else { throw exec.problem("command", "empty") }
            var args: [String] = []
            if let list = execNode["args"], list.null == nil {
                guard case .sequence(let items) = list else { throw exec.problem("args", "expected a list of strings") }
                for item in items {
                    guard case .scalar(let scalar) = item else { throw exec.problem("args", "expected a list of strings") }
                    args.append(scalar.string)
                }
            }
            var env: [String: String] = [:]
            if let list = execNode["env"], list.null == nil {
                guard case .sequence(let items) = list else { throw exec.problem("env", "expected a list of {name, value}") }
                for (index, item) in items.enumerated() {
                    let variable = Fields(item, file: file, line: KubeConfigLoader.line(item), path: path + ".exec.env[\(index)]")
                    env[try variable.string("name", required: true)!] = try variable.string("value", required: true)!
                }
            }
            return ExecCredentialConfig(
                apiVersion: apiVersion, command: command.contains("/") ? resolve(command) : command, args: args, env: env,
                directory: FilePaths.parent(file), installHint: try exec.string("installHint"))
        }
    }

    // MARK: helpers

    /// `~/x` and `~` as the home folder.
    static func expand(_ path: String, home: String) -> String {
        if path == "~" { return home }
        if path.hasPrefix("~/") { return home + path.dropFirst() }
        return path
    }

    /// A file's bytes (nil when it does not exist), at most ``maxFileBytes``, regular files only.
    static func read(_ path: String, for what: String) throws(KubeConfigError) -> [UInt8]? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return nil }
        guard !isDirectory.boolValue,
              let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              attributes[.type] as? FileAttributeType == .typeRegular
        else { throw KubeConfigError(file: path, "\(what) is not a regular file") }
        if let size = attributes[.size] as? Int, size > maxFileBytes {
            throw KubeConfigError(file: path, "\(what) is \(size) bytes, more than the \(maxFileBytes) read")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw KubeConfigError(file: path, "cannot read \(what)") }
        return Array(data)
    }

    static func line(_ node: Node) -> Int { node.mark?.line ?? 0 }
}

import KeelsonCore
import Foundation

/// Where a config file is, and which files it may read: what relative paths in it resolve
/// against, and what ``FileAccess`` allows.
struct FilePlace {
    var configFile: String
    var files: ConfigFiles
    var access: FileAccess
}

/// Brownfield files that services point at: Kubernetes manifests and ECS task definitions. Their
/// whole text goes into the log (`ConfigApplied`), so each must be allowed by the ``FileAccess``.
enum ManifestFiles {
    /// A directory relative to the config file that names it (default: that file's folder).
    static func directory(_ path: String?, relativeTo configFile: String) -> String {
        let resolved = resolve(path ?? ".", relativeTo: configFile)
        return FilePaths.normalized(resolved)
    }

    /// A path relative to the config file that names it (kept relative when that file's is).
    static func resolve(_ path: String, relativeTo configFile: String) -> String {
        if path.hasPrefix("/") { return path }
        let directory = FilePaths.parent(configFile)
        return directory.isEmpty ? path : directory + "/" + path
    }

    /// A manifest file, or every .yaml/.yml/.json file of a folder (sorted); each must be valid YAML.
    static func kubernetes(_ path: String, at place: FilePlace, report: (String) -> Void) -> [String]? {
        // `k8s/` and `k8s` name the same folder, and its files one way (`k8s/web.yaml`).
        var resolved = resolve(path, relativeTo: place.configFile)
        while resolved.count > 1, resolved.hasSuffix("/") { resolved.removeLast() }
        if let problem = place.access.problem(reading: resolved, files: place.files) {
            report(problem)
            return nil
        }
        guard let isDirectory = place.files.isDirectory(resolved) else {
            report("no manifest file or folder at \(BoundedInput.quoted(resolved))")
            return nil
        }
        var manifests = [resolved]
        if isDirectory {
            manifests = place.files.entries(of: resolved)
                .filter { !$0.contains("/") && ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml") || $0.hasSuffix(".json")) }
                .map { resolved + "/" + $0 }
            if manifests.isEmpty {
                report("the folder \(BoundedInput.quoted(resolved)) holds no .yaml, .yml or .json manifest")
                return nil
            }
        }
        var valid = true
        for file in manifests {
            // A link in the folder may point out of it.
            if let problem = place.access.problem(reading: file, files: place.files) {
                report(problem)
                valid = false
                continue
            }
            switch place.files.text(of: file) {
            case .failure(let problem):
                report("manifest \(BoundedInput.quoted(file)): " + (problem.line > 0 ? "line \(problem.line): " : "") + problem.message)
                valid = false
            case .success(let text):
                let parsed = ConfigSource.parse(text, file: file)
                if let problem = parsed.diagnostics.first {
                    report("manifest \(BoundedInput.quoted(file)) is not valid YAML: line \(problem.line): \(problem.message)")
                    valid = false
                }
            }
        }
        return valid ? manifests : nil
    }

    /// An ECS task definition: a JSON object in a file.
    static func ecsTaskDefinition(_ path: String, at place: FilePlace, report: (String) -> Void) -> String? {
        let resolved = resolve(path, relativeTo: place.configFile)
        if let problem = place.access.problem(reading: resolved, files: place.files) {
            report(problem)
            return nil
        }
        let text: String
        switch place.files.text(of: resolved) {
        case .success(let read): text = read
        case .failure(.missing):
            report("no task definition file at \(BoundedInput.quoted(resolved))")
            return nil
        case .failure(let problem):
            report("task definition \(BoundedInput.quoted(resolved)): " + (problem.line > 0 ? "line \(problem.line): " : "") + problem.message)
            return nil
        }
        do {
            guard try JSONSerialization.jsonObject(with: Data(text.utf8)) is [String: Any] else {
                report("task definition \(BoundedInput.quoted(resolved)) is not a JSON object")
                return nil
            }
        } catch {
            report("task definition \(BoundedInput.quoted(resolved)) is not valid JSON: \((error as NSError).userInfo[NSDebugDescriptionErrorKey] ?? error)")
            return nil
        }
        return resolved
    }
}

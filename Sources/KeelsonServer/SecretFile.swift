import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A file that holds a secret (the first admin token), written atomically: a temporary file in the
/// same folder, created readable by its owner only (0600), written, fsynced, then renamed over the
/// target and the folder fsynced. A failure at any step (a full disk, a folder that cannot be
/// written) leaves no file at the target — never an empty or partial one — and says so in a
/// sentence.
struct SecretFile {
    /// What the steps call, so that tests can make a step fail (a full disk) where the machine
    /// cannot.
    struct System: Sendable {
        var write: @Sendable (_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Int = { descriptor, bytes in
            #if canImport(Darwin)
            Darwin.write(descriptor, bytes.baseAddress, bytes.count)
            #else
            Glibc.write(descriptor, bytes.baseAddress, bytes.count)
            #endif
        }
        var fsync: @Sendable (_ descriptor: Int32) -> Int32 = { descriptor in
            #if canImport(Darwin)
            Darwin.fsync(descriptor)
            #else
            Glibc.fsync(descriptor)
            #endif
        }

        static let real = System()
    }

    struct Failure: Error, CustomStringConvertible, LocalizedError {
        var path: String
        var step: String
        var code: Int32

        var description: String {
            let reason: String
            switch code {
            case ENOSPC: reason = "the disk is full (no space left on device)"
            case EDQUOT: reason = "the disk quota is exhausted"
            case EACCES, EPERM: reason = "permission denied"
            case EROFS: reason = "the file system is read-only"
            case ENOENT: reason = "the folder does not exist"
            case ENOTDIR: reason = "a part of the path is not a folder"
            default: reason = String(cString: strerror(code)).lowercased()
            }
            return "cannot write \(path) (\(step)): \(reason)"
        }

        var errorDescription: String? { description }
    }

    let path: String
    var system = System.real

    /// Writes `text` to the file, atomically, readable by its owner only.
    func write(_ text: String) throws(Failure) {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            let code = ((error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError).map { Int32($0.code) } ?? EACCES
            throw Failure(path: path, step: "creating its folder", code: code == 0 ? EACCES : code)
        }
        let temporary = folder + "/." + url.lastPathComponent + ".\(getpid()).tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Failure(path: path, step: "creating a temporary file", code: errno) }
        var failure: Failure?
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = system.write(descriptor, UnsafeRawBufferPointer(rebasing: buffer[offset...]))
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = Failure(path: path, step: "writing", code: errno)
                    return
                }
                if written == 0 {
                    failure = Failure(path: path, step: "writing", code: ENOSPC)
                    return
                }
                offset += written
            }
        }
        if failure == nil, system.fsync(descriptor) != 0 { failure = Failure(path: path, step: "syncing to disk", code: errno) }
        close(descriptor)
        if failure == nil, rename(temporary, path) != 0 { failure = Failure(path: path, step: "renaming into place", code: errno) }
        if let failure {
            unlink(temporary)
            throw failure
        }
        // The rename is durable once the folder is synced.
        let folderDescriptor = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if folderDescriptor >= 0 {
            _ = system.fsync(folderDescriptor)
            close(folderDescriptor)
        }
    }

    /// Removes the file (when what it names was not recorded after all).
    func remove() {
        unlink(path)
    }
}

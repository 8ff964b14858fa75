import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import KeelsonCore
import KeelsonService
import NIOCore

/// The web UI: a static shell (`/`) and its files (`/ui/NAME`), compiled into the binary from
/// `Sources/KeelsonServer/WebUI/` — plain HTML, CSS and ES modules, no build step. They are served
/// without a token (they hold no data); the page asks for one and sends it as the bearer header
/// on every API call, so the API's roles apply to the UI as to any client.
///
/// Every answer carries a strict Content-Security-Policy (scripts, styles and connections from this
/// origin only; no inline script or style, no frames, no forms posted anywhere), and an ETag: a
/// browser revalidates (`Cache-Control: no-cache`) and gets `304 Not Modified` while the binary is
/// the same.
public enum WebUI {
    public struct Asset: Sendable {
        public var name: String
        public var contentType: String
        public var bytes: [UInt8]
        /// A strong validator: the content's SHA-256, shortened.
        public var etag: String

        init(_ name: String, _ contentType: String, _ bytes: [UInt8]) {
            self.name = name
            self.contentType = contentType
            self.bytes = bytes
            self.etag = "\"" + String(SHA256.hash(data: bytes).lowercaseHex.prefix(32)) + "\""
        }
    }

    /// The page's files by name (`/ui/NAME`); `index.html` is also served at `/`.
    public static let assets: [String: Asset] = {
        let html = "text/html; charset=utf-8", css = "text/css; charset=utf-8", js = "text/javascript; charset=utf-8"
        let list = [
            Asset("index.html", html, PackageResources.index_html),
            Asset("keelson.css", css, PackageResources.keelson_css),
            Asset("app.js", js, PackageResources.app_js),
            Asset("api.js", js, PackageResources.api_js),
            Asset("dom.js", js, PackageResources.dom_js),
            Asset("stream.js", js, PackageResources.stream_js),
            Asset("board.js", js, PackageResources.board_js),
            Asset("instance.js", js, PackageResources.instance_js),
            Asset("timeline.js", js, PackageResources.timeline_js),
        ]
        return Dictionary(uniqueKeysWithValues: list.map { ($0.name, $0) })
    }()

    /// The policy every UI answer carries. `connect-src 'self'` lets the page call the API and
    /// read the event stream of its own origin and nothing else.
    public static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    static func register<Context: RequestContext>(into router: Router<Context>) {
        for method in [HTTPRequest.Method.get, .head] {
            router.on("/", method: method) { request, _ in
                try response(assets["index.html"]!, request: request)
            }
            router.on("/ui/{file}", method: method) { request, context in
                let name = context.parameters.get("file") ?? ""
                guard let asset = assets[name] else {
                    throw APIError.notFound("no web UI file \(BoundedInput.quoted(name))")
                }
                return try response(asset, request: request)
            }
        }
    }

    static func response(_ asset: Asset, request: Request) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = asset.contentType
        headers[.eTag] = asset.etag
        headers[.cacheControl] = "no-cache"
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        headers[.xContentTypeOptions] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        if let validators = request.headers[.ifNoneMatch],
            validators.split(separator: ",").contains(where: { tag in
                let tag = tag.trimmingCharacters(in: .whitespaces)
                return tag == "*" || tag == asset.etag || tag == "W/" + asset.etag
            })
        {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentLength] = String(asset.bytes.count)
        let body = request.method == .head ? ByteBuffer() : ByteBuffer(bytes: asset.bytes)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }
}

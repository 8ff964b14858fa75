import Foundation

/// The OpenAPI 3.1 document of the API (Sources/KeelsonServer/openapi.json), served at
/// `/api/v1/openapi.json`. A test checks it against the routes the router registers.
public enum OpenAPIDocument {
    public static let bytes: [UInt8] = PackageResources.openapi_json
}

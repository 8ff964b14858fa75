/// The version of this Keelson build.
public enum KeelsonVersion {
    public static let current = "0.1.0-dev"
}

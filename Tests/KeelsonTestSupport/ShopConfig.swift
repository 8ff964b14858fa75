/// A small config several suites build on: application `shop` with `staging` then `prod`, both on
/// a simulated runtime `sim`, and two services to add to it.
public enum ShopConfig {
    public static let platform = """
        kind: Runtime
        name: sim
        type: simulated
        ---
        kind: Application
        name: shop
        channels:
          - {name: staging, runtime: sim}
          - {name: prod, runtime: sim, after: staging}

        """
    public static let web = "kind: Service\nname: web\napplication: shop\n"
    public static let api = "kind: Service\nname: api\napplication: shop\n"
}

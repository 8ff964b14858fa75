import KeelsonCore
import Yams

/// Explicit YAML tags in config: the core ones (`!!str`, `!!int`, `!!bool`, `!!float`,
/// `!!null`, `!!map`, `!!seq`) say what a plain value already is and are accepted; any other
/// (`!!binary`, `!!timestamp`, `!!set`, a local `!tag`) asks for a type config does not have, and
/// is refused where it is written rather than read as its text.
enum YAMLTags {
    static let accepted: Set<String> = [
        "", "!", Tag.Name.str.rawValue, Tag.Name.int.rawValue, Tag.Name.bool.rawValue, Tag.Name.float.rawValue,
        Tag.Name.null.rawValue, Tag.Name.map.rawValue, Tag.Name.seq.rawValue,
    ]

    static func name(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): scalar.tag.rawValue
        case .mapping(let mapping): mapping.tag.rawValue
        case .sequence(let sequence): sequence.tag.rawValue
        case .alias: ""
        }
    }

    static func isExplicit(_ node: Node) -> Bool {
        !name(node).isEmpty
    }

    /// What is wrong with `node`'s tag, or nil.
    static func problem(_ node: Node) -> String? {
        let tag = name(node)
        guard !accepted.contains(tag) else { return nil }
        let shown = tag.hasPrefix("tag:yaml.org,2002:") ? "!!" + tag.dropFirst("tag:yaml.org,2002:".count) : tag
        return "the YAML tag \(BoundedInput.quoted(String(shown))) is not accepted in config: a value is a string, a number, "
            + "a boolean, a list or a mapping (write the value without the tag)"
    }
}

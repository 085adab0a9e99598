/// A line diff (longest common subsequence), printed like `diff -u` without hunk headers.
public enum LineDiff {
    public static func render(_ old: String, _ new: String, context: Int = 3) -> String {
        let a = old.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let b = new.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // The table is quadratic: past a few million cells, show the texts as replaced whole.
        guard a.count * b.count <= 4_000_000 else {
            return a == b ? "" : (a.map { "- \($0)\n" } + b.map { "+ \($0)\n" }).joined()
        }
        var lengths = Array(repeating: Array(repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in stride(from: a.count - 1, through: 0, by: -1) {
            for j in stride(from: b.count - 1, through: 0, by: -1) {
                lengths[i][j] = a[i] == b[j] ? lengths[i + 1][j + 1] + 1 : max(lengths[i + 1][j], lengths[i][j + 1])
            }
        }
        var lines: [(mark: Character, text: String)] = []
        var i = 0
        var j = 0
        while i < a.count || j < b.count {
            if i < a.count, j < b.count, a[i] == b[j] {
                lines.append((" ", a[i]))
                i += 1
                j += 1
            } else if i < a.count, j == b.count || lengths[i + 1][j] >= lengths[i][j + 1] {
                lines.append(("-", a[i]))
                i += 1
            } else {
                lines.append(("+", b[j]))
                j += 1
            }
        }
        let changed = lines.indices.filter { lines[$0].mark != " " }
        guard !changed.isEmpty else { return "" }
        var shown = Set<Int>()
        for index in changed { for near in max(0, index - context)...min(lines.count - 1, index + context) { shown.insert(near) } }
        var out = ""
        var previous = -1
        for index in shown.sorted() {
            if previous >= 0, index != previous + 1 { out += "...\n" }
            out += "\(lines[index].mark) \(lines[index].text)\n"
            previous = index
        }
        return out
    }
}

extension JSONValue {
    /// The value as one line per leaf (`path: value`, sorted keys), multi-line strings written
    /// line by line: a form whose line diff shows what changed where, e.g. in a prompt template.
    public var outline: String {
        var lines: [String] = []
        Self.outline(self, path: "", into: &lines)
        return lines.joined(separator: "\n")
    }

    static func outline(_ value: JSONValue, path: String, into lines: inout [String]) {
        let label = path.isEmpty ? "$" : path
        switch value {
        case .object(let fields) where !fields.isEmpty:
            for key in fields.keys.sorted() {
                Self.outline(fields[key] ?? .null, path: path.isEmpty ? key : "\(path).\(key)", into: &lines)
            }
        case .array(let items) where !items.isEmpty:
            for (index, item) in items.enumerated() { Self.outline(item, path: "\(path)[\(index)]", into: &lines) }
        case .string(let text) where text.contains("\n"):
            lines.append("\(label): |")
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) { lines.append("  " + line) }
        default:
            lines.append("\(label): " + String(decoding: value.serialized(sortedKeys: true), as: UTF8.self))
        }
    }
}

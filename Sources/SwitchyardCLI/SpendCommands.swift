import ArgumentParser
import Foundation
import NIOHTTP1
import SwitchyardCore

/// `switchyard spend`: what a tenant spent, from the nodes' reports.
struct SpendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spend",
        abstract: "Show a tenant's spend and tokens per day, key, route or model.",
        discussion: """
            switchyard spend --tenant T [--from 2026-11-01] [--to 2026-11-30] [--by day,model]
            Days are UTC; by default this month so far, per day. With --budgets, each budget's current window instead.
            """
    )

    @Option(help: "The tenant.") var tenant: String
    @Option(help: "First UTC day (YYYY-MM-DD).") var from: String?
    @Option(help: "Last UTC day (YYYY-MM-DD).") var to: String?
    @Option(help: "Group by: a comma-separated list of day, key, route, model.") var by = "day"
    @Flag(help: "Show the tenant's budgets and their current windows.") var budgets = false
    @OptionGroup var connection: AdminConnection

    func run() async throws {
        try await exitTwoOnError {
            let base = "/admin/v1/tenants/\(ConfigObject.escape(self.tenant))"
            if self.budgets {
                let list = try await self.connection.withClient { try await $0.send(.GET, base + "/budgets").1["data"]?.arrayValue ?? [] }
                say(Self.table(["BUDGET", "SCOPE", "WINDOW", "SPENT", "LEASED", "LIMIT", "MODE"], list.map(Self.budgetRow)))
                return
            }
            var query = ["group_by=" + self.by]
            if let from = self.from { query.append("from=" + from) }
            if let to = self.to { query.append("to=" + to) }
            let answer = try await self.connection.withClient { try await $0.send(.GET, base + "/spend?" + query.joined(separator: "&")).1 }
            let groups = self.by.split(separator: ",").map(String.init)
            let header = groups.map { $0.uppercased() } + ["REQUESTS", "PROMPT TOKENS", "COMPLETION TOKENS", "COST (USD)"]
            let rows = (answer["data"]?.arrayValue ?? []).map { row in
                groups.map { row[$0 == "key" ? "key_id" : $0]?.stringValue ?? "" }
                    + [
                        String(row["requests"]?.intValue ?? 0), String(row["prompt_tokens"]?.intValue ?? 0),
                        String(row["completion_tokens"]?.intValue ?? 0), Self.usd(row["cost_micros"]?.intValue ?? 0),
                    ]
            }
            say("\(answer["from"]?.stringValue ?? "") .. \(answer["to"]?.stringValue ?? "")")
            say(Self.table(header, rows))
        }
    }

    static func budgetRow(_ budget: JSONValue) -> [String] {
        let scope = budget["scope"]?["kind"]?.stringValue ?? ""
        let value = budget["scope"]?["value"]?.stringValue.map { ":" + $0 } ?? ""
        let current = budget["current"] ?? .null
        return [
            budget["name"]?.stringValue ?? "", scope + value, current["window"]?.stringValue ?? "",
            Self.usd(current["spent_micros"]?.intValue ?? 0), Self.usd(current["leased_micros"]?.intValue ?? 0),
            Self.usd(Self.micros(budget["limit_usd"] ?? .null)), budget["mode"]?.stringValue ?? "",
        ]
    }

    static func usd(_ micros: Int64) -> String { String(format: "%.6f", Double(micros) / 1_000_000) }

    static func micros(_ value: JSONValue) -> Int64 {
        switch value {
        case .int(let number): number * 1_000_000
        case .double(let number): Int64((number * 1_000_000).rounded())
        default: 0
        }
    }

    /// Left-aligned columns, two spaces apart.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }
}

/// `switchyard prices`: the price catalog.
struct PricesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prices",
        abstract: "Price catalog tools.",
        subcommands: [ImportCommand.self, ListCommand.self]
    )

    /// `switchyard prices import -f FILE`: many price rows at once, all or none.
    struct ImportCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Import price rows from a JSON or CSV file (all or none).",
            discussion: """
                JSON: a list of rows, or {"prices": [...]}; each row has model, effective_at (RFC 3339, default now),
                input_price_per_mtok, output_price_per_mtok, and optionally cached_input_price_per_mtok and request_price_usd.
                CSV: a header line naming those columns, then one row per line (empty cells are left out).
                """
        )

        @Option(name: .shortAndLong, help: "The file ('-' reads standard input; .csv is CSV, anything else JSON).") var file: String
        @OptionGroup var connection: AdminConnection

        func run() async throws {
            try await exitTwoOnError {
                let rows = try PricesCommand.rows(try readInput(self.file), csv: self.file.hasSuffix(".csv"))
                let (_, answer) = try await self.connection.withClient {
                    try await $0.send(.POST, "/admin/v1/prices/import", ["prices": .array(rows)])
                }
                say("imported \(answer["imported"]?.intValue ?? 0) price rows")
            }
        }
    }

    /// `switchyard prices list MODEL`.
    struct ListCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "A model's price changes, oldest first.")

        @Argument(help: "The model.") var model: String
        @OptionGroup var connection: AdminConnection

        func run() async throws {
            try await exitTwoOnError {
                let rows = try await self.connection.withClient {
                    try await $0.send(.GET, "/admin/v1/models/\(ConfigObject.escape(self.model))/prices").1["data"]?.arrayValue ?? []
                }
                let table = rows.map { row in
                    [
                        row["effective_at"]?.stringValue ?? "", Self.text(row["input_price_per_mtok"]), Self.text(row["output_price_per_mtok"]),
                        Self.text(row["cached_input_price_per_mtok"]), Self.text(row["request_price_usd"]),
                    ]
                }
                say(SpendCommand.table(["EFFECTIVE AT", "INPUT/MTOK", "OUTPUT/MTOK", "CACHED/MTOK", "PER REQUEST"], table))
            }
        }

        static func text(_ value: JSONValue?) -> String {
            switch value ?? .null {
            case .int(let number): String(number)
            case .double(let number): String(number)
            default: "-"
            }
        }
    }

    static let numberColumns: Set<String> = [
        "input_price_per_mtok", "output_price_per_mtok", "cached_input_price_per_mtok", "request_price_usd",
    ]

    /// The rows of a price file as admin API JSON.
    static func rows(_ text: String, csv: Bool) throws -> [JSONValue] {
        guard csv else {
            let value = try JSONValue(parsing: text.utf8)
            if let list = value.arrayValue { return list }
            guard let list = value["prices"]?.arrayValue else { throw ConfigFileError("a JSON price file is a list of rows or {\"prices\": [...]}") }
            return list
        }
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter {
            !$0.isEmpty && !$0.hasPrefix("#")
        }
        guard let header = lines.first?.split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingCharacters(in: .whitespaces) }),
            header.contains("model")
        else { throw ConfigFileError("a CSV price file starts with a header line naming its columns (model, effective_at, …)") }
        return try lines.dropFirst().enumerated().map { index, line in
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == header.count else {
                throw ConfigFileError("line \(index + 2): \(cells.count) cells for \(header.count) columns")
            }
            var row: [String: JSONValue] = [:]
            for (column, cell) in zip(header, cells) where !cell.isEmpty {
                if Self.numberColumns.contains(column) {
                    guard let number = Double(cell) else { throw ConfigFileError("line \(index + 2): \(column) is not a number: '\(cell)'") }
                    row[column] = .double(number)
                } else {
                    row[column] = .string(cell)
                }
            }
            return .object(row)
        }
    }
}

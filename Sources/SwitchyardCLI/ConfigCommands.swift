import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOHTTP1
import NIOPosix
import SwitchyardCore

/// Where the admin API is: flags, else `SWITCHYARD_ADMIN_URL` / `SWITCHYARD_ADMIN_TOKEN`, else
/// the `dev.env` a `switchyard dev` cluster wrote.
struct AdminConnection: ParsableArguments {
    @Option(help: "Control-plane base URL (default: $SWITCHYARD_ADMIN_URL, else the dev cluster's).") var adminURL: String?
    @Option(help: "Admin token (default: $SWITCHYARD_ADMIN_TOKEN, else the dev cluster's).") var adminToken: String?
    @Option(help: "A dev.env file to read the URL and token from.") var envFile = ".state/dev/dev.env"

    func resolve() throws -> (url: String, token: String) {
        let environment = ProcessInfo.processInfo.environment
        var file: [String: String] = [:]
        if let text = try? String(contentsOfFile: self.envFile, encoding: .utf8) {
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { file[String(parts[0])] = String(parts[1]) }
            }
        }
        // URL and token come from the same place: a token from a leftover dev.env must never be
        // sent to a URL given on the command line or in the environment.
        let explicitURL = self.adminURL ?? environment["SWITCHYARD_ADMIN_URL"]
        let source = explicitURL == nil ? file : [:]
        guard var url = explicitURL ?? source["SWITCHYARD_ADMIN_URL"] else {
            throw ValidationError("no admin URL: pass --admin-url, set SWITCHYARD_ADMIN_URL, or run `switchyard dev` first")
        }
        guard let token = self.adminToken ?? environment["SWITCHYARD_ADMIN_TOKEN"] ?? source["SWITCHYARD_ADMIN_TOKEN"] else {
            throw ValidationError("no admin token for \(url): pass --admin-token or set SWITCHYARD_ADMIN_TOKEN")
        }
        while url.hasSuffix("/") { url.removeLast() }
        if url.hasSuffix("/admin/v1") { url.removeLast("/admin/v1".count) }
        return (url, token)
    }

    /// Runs `body` with an admin client, shutting its HTTP client down afterwards.
    func withClient<T>(_ body: (AdminClient) async throws -> T) async throws -> T {
        let (url, token) = try self.resolve()
        let http = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        do {
            let result = try await body(AdminClient(client: http, baseURL: url, token: token))
            try await http.shutdown()
            return result
        } catch {
            try? await http.shutdown()
            throw error
        }
    }
}

/// `switchyard apply -f FILE`: creates or updates the objects in the file; unchanged objects
/// are left alone (no revision, no config version).
struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Create or update tenants, providers, models, prompts, routes and budgets from YAML or JSON files.",
        discussion: """
            Each object names its type in 'object:' (tenant, provider, model, prompt, route, budget); the rest are the admin
            API's fields, plus 'tenant:' for routes, prompts and budgets (a prompt also takes 'labels:', the labels to point at
            it). Secrets can come from the environment: 'api_key_env: NAME'. Prices: 'switchyard prices import'.
            Unchanged objects create no revision. Exit status 1 when any object was refused, 2 on other errors.
            """
    )

    @Option(name: .shortAndLong, help: "A file to apply (repeatable; '-' reads standard input).") var file: [String]
    @Flag(help: "Show what would change without writing.") var dryRun = false
    @OptionGroup var connection: AdminConnection

    func run() async throws {
        try await exitTwoOnError { try await self.apply() }
    }

    func apply() async throws {
        var objects: [ConfigObject] = []
        for path in self.file { objects += try ConfigDocuments.parse(try readInput(path), name: path) }
        let ordered = objects.enumerated().sorted { ($0.element.kind, $0.offset) < ($1.element.kind, $1.offset) }.map(\.element)
        var failures = 0
        try await self.connection.withClient { admin in
            for object in ordered {
                do {
                    say("\(object.label): \(try await Self.apply(object, admin: admin, dryRun: self.dryRun))")
                } catch let failure as AdminClient.Failure {
                    failures += 1
                    say("\(object.label): refused (\(object.source)): \(Self.explain(failure))")
                }
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }

    /// Applies one object; returns what happened.
    static func apply(_ object: ConfigObject, admin: AdminClient, dryRun: Bool) async throws -> String {
        if object.kind == .prompt { return try await Self.applyPrompt(object, admin: admin, dryRun: dryRun) }
        let (status, current) = try await admin.send(.GET, object.path, allow: [404])
        let exists = status != 404
        if exists, !object.body.keys.contains("api_key"), !object.body.keys.contains("credentials"),
            Self.unchanged(object, current: current)
        {
            return "unchanged" + Self.revision(current)
        }
        if dryRun { return exists ? "would update" : "would create" }
        if object.kind == .tenant, !exists {
            var body = object.body
            body["name"] = .string(object.name)
            try await admin.send(.POST, "/admin/v1/tenants", .object(body))
            return "created"
        }
        let (written, answer) = try await admin.send(.PUT, object.path, .object(object.body))
        if written == 201 { return "created" + Self.revision(answer) }
        // The admin API writes nothing for an unchanged object: same revision, same updated_at.
        let same =
            answer["revision"] != nil
            ? answer["revision"] == current["revision"] : answer["updated_at"] != nil && answer["updated_at"] == current["updated_at"]
        return (same ? "unchanged" : "updated") + Self.revision(answer)
    }

    /// Whether the live object already says what the file says. Routes compare in canonical form
    /// (defaults spelled out), so a file that leaves defaults out still matches.
    static func unchanged(_ object: ConfigObject, current: JSONValue) -> Bool {
        guard case .object(let live) = current else { return false }
        if object.kind == .route {
            guard let wanted = try? RouteSpec(reading: FieldReader(.object(object.body), allowed: RouteSpec.fields.union(["comment"]))),
                let existing = try? RouteSpec(json: .object(live.filter { RouteSpec.fields.contains($0.key) }))
            else { return false }
            return wanted == existing && (object.body["comment"]?.stringValue ?? "") == (live["comment"]?.stringValue ?? "")
        }
        if object.kind == .budget {
            return Self.canonicalBudget(.object(object.body), name: object.name) == Self.canonicalBudget(current, name: object.name)
        }
        for (key, value) in object.body where key != "name" {
            guard let liveValue = live[key] else { return false }
            if value != liveValue, !(Self.number(value).map { $0 == Self.number(liveValue) } ?? false) { return false }
        }
        // Fields the file leaves out take their defaults on PUT, which may differ from what is live.
        for (key, value) in Self.defaults[object.kind] ?? [:] where object.body[key] == nil && live[key] != nil && live[key] != value {
            return false
        }
        return true
    }

    /// A budget in canonical form (defaults spelled out), or nil when it does not parse.
    static func canonicalBudget(_ value: JSONValue, name: String) -> JSONValue? {
        let fields = (value.objectValue ?? [:]).filter { BudgetConfig.fields.contains($0.key) && $0.key != "name" }
        return (try? BudgetConfig(json: .object(fields), name: name))?.json
    }

    /// What a PUT sets for the fields it leaves out.
    static let defaults: [ConfigObject.Kind: [String: JSONValue]] = [
        .tenant: ["display_name": "", "labels": [:], "policy": ["require": [:]], "rate_limits": ["rpm": nil, "tpm": nil]],
        .model: ["tags": [:], "capabilities": [], "request_price_usd": 0],
    ]

    static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .int(let number): Double(number)
        case .double(let number): number
        default: nil
        }
    }

    /// A prompt in a file is the version wanted now, and the labels that should point at it.
    /// A spec equal to the newest version adds no version.
    static func applyPrompt(_ object: ConfigObject, admin: AdminClient, dryRun: Bool) async throws -> String {
        var body = object.body
        let labels = (body.removeValue(forKey: "labels")?.arrayValue ?? []).compactMap(\.stringValue)
        let (status, live) = try await admin.send(.GET, object.path, allow: [404])
        let latest = status == 404 ? nil : live["latest"]
        let same = latest.map { Self.samePrompt($0, body) } ?? false
        if dryRun {
            let moves = labels.filter { live["labels"]?[$0]?.intValue != (same ? live["latest_version"]?.intValue : -1) }
            let labelText = moves.isEmpty ? "" : ", would move labels \(moves.joined(separator: ", "))"
            return (same ? "unchanged" : status == 404 ? "would create" : "would add a version") + labelText
        }
        let (written, version) = try await admin.send(.POST, object.path + "/versions", .object(body))
        let number = version["version"]?.intValue ?? 0
        var moved: [String] = []
        for label in labels where live["labels"]?[label]?.intValue != number {
            try await admin.send(.PUT, object.path + "/labels/" + ConfigObject.escape(label), ["version": .int(number)])
            moved.append(label)
        }
        let what = written == 201 ? (status == 404 ? "created" : "new version") : "unchanged"
        return "\(what) (version \(number))" + (moved.isEmpty ? "" : ", labels \(moved.joined(separator: ", ")) → \(number)")
    }

    /// Whether a live version (as the API renders it) holds the spec and comment of a file.
    static func samePrompt(_ live: JSONValue, _ body: [String: JSONValue]) -> Bool {
        let specFields: Set<String> = ["variables", "variants", "tools", "response_schema", "on_invalid_output"]
        guard let wanted = try? PromptSpec(json: .object(body.filter { specFields.contains($0.key) })),
            let existing = try? PromptSpec(json: .object((live.objectValue ?? [:]).filter { specFields.contains($0.key) }))
        else { return false }
        return wanted == existing && (body["comment"]?.stringValue ?? "") == (live["comment"]?.stringValue ?? "")
    }

    static func revision(_ answer: JSONValue) -> String {
        answer["revision"]?.intValue.map { " (revision \($0))" } ?? ""
    }

    static func explain(_ failure: AdminClient.Failure) -> String {
        guard let json = try? JSONValue(parsing: failure.body.utf8), let message = json["error"]?["message"]?.stringValue else {
            return "HTTP \(failure.status)"
        }
        return (json["error"]?["field"]?.stringValue.map { "\($0): " } ?? "") + message + " (HTTP \(failure.status))"
    }
}

/// `switchyard get`: reads objects from the admin API as YAML or JSON (a form `apply` accepts).
struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Show tenants, providers, models, prompts or routes, in a form 'apply' accepts."
    )

    enum What: String, ExpressibleByArgument, CaseIterable {
        case tenants, tenant, providers, provider, models, model, prompts, prompt, routes, route, budgets, budget
    }

    @Argument(help: "tenants | providers | models | prompts | routes | budgets (singular with a NAME).") var what: What
    @Argument(help: "One object's name (a route's alias).") var name: String?
    @Option(help: "The tenant whose routes, prompts or budgets to show.") var tenant: String?
    @Option(name: .shortAndLong, help: "yaml or json.") var output = "yaml"
    @OptionGroup var connection: AdminConnection

    func validate() throws {
        guard ["yaml", "json"].contains(self.output) else { throw ValidationError("--output must be yaml or json") }
        if [.routes, .route, .prompts, .prompt, .budgets, .budget].contains(self.what), self.tenant == nil {
            throw ValidationError("routes, prompts and budgets need --tenant")
        }
    }

    func run() async throws {
        let kind: ConfigObject.Kind
        switch self.what {
        case .tenants, .tenant: kind = .tenant
        case .providers, .provider: kind = .provider
        case .models, .model: kind = .model
        case .prompts, .prompt: kind = .prompt
        case .routes, .route: kind = .route
        case .budgets, .budget: kind = .budget
        }
        let collection: String =
            switch kind {
            case .tenant: "/admin/v1/tenants"
            case .provider: "/admin/v1/providers"
            case .model: "/admin/v1/models"
            case .prompt: "/admin/v1/tenants/\(ConfigObject.escape(self.tenant ?? ""))/prompts"
            case .route: "/admin/v1/tenants/\(ConfigObject.escape(self.tenant ?? ""))/routes"
            case .budget: "/admin/v1/tenants/\(ConfigObject.escape(self.tenant ?? ""))/budgets"
            }
        let items: [JSONValue] = try await self.connection.withClient { admin in
            if let name = self.name {
                return [try await admin.send(.GET, collection + "/" + ConfigObject.escape(name)).1]
            }
            let list = try await admin.send(.GET, collection).1["data"]?.arrayValue ?? []
            guard kind == .prompt else { return list }
            // A prompt's document is its newest version: read each one.
            var prompts: [JSONValue] = []
            for item in list {
                let name = item["name"]?.stringValue ?? ""
                prompts.append(try await admin.send(.GET, collection + "/" + ConfigObject.escape(name)).1)
            }
            return prompts
        }
        let documents = items.map { Self.document($0, kind: kind, tenant: self.tenant) }
        if self.output == "json" {
            print(ConfigDocuments.render(documents.count == 1 && self.name != nil ? documents[0] : .array(documents), yaml: false), terminator: "")
        } else {
            print(documents.map { ConfigDocuments.render($0, yaml: true) }.joined(separator: "---\n"), terminator: "")
        }
    }

    /// An environment variable name: upper-case letters and digits, anything else an underscore.
    static func variableName(_ text: String) -> String {
        String(
            text.uppercased().unicodeScalars.map { scalar in
                (("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)) ? Character(scalar) : "_"
            }
        )
    }

    /// An admin API record as an `apply` document.
    static func document(_ record: JSONValue, kind: ConfigObject.Kind, tenant: String?) -> JSONValue {
        var fields = record.objectValue ?? [:]
        if kind == .prompt {
            // The newest version, with the labels that point at it.
            var latest = record["latest"]?.objectValue ?? [:]
            for key in ["version", "created_at", "created_by"] { latest[key] = nil }
            fields = latest
            fields["name"] = record["name"] ?? .null
        }
        for key in ["created_at", "updated_at", "created_by", "has_api_key", "revision"] { fields[key] = nil }
        // A budget's standing is not configuration.
        if kind == .budget { fields["current"] = nil }
        if kind == .provider, case .array(let credentials) = fields["credentials"] ?? .null {
            // Keys are never returned; point at environment variables instead.
            fields["credentials"] = nil
            if !credentials.isEmpty {
                fields["credentials"] = .array(
                    credentials.map { entry in
                        let name = entry["name"]?.stringValue ?? "key"
                        var document: JSONValue = [
                            "name": .string(name), "weight": entry["weight"] ?? 1,
                            "key_env": .string(Self.variableName("\(fields["name"]?.stringValue ?? "provider")_\(name)_key")),
                        ]
                        if let capacity = entry["capacity"] { document["capacity"] = capacity }
                        return document
                    }
                )
            }
        }
        fields["object"] = .string(kind.rawValue)
        if kind.isTenantScoped { fields["tenant"] = tenant.map(JSONValue.string) ?? .null }
        return .object(fields)
    }
}

/// `switchyard history`: a route's revisions, newest first.
struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "history", abstract: "List a route's revisions, newest first.")

    @Argument(help: "The route's alias.") var alias: String
    @Option(help: "The route's tenant.") var tenant: String
    @OptionGroup var connection: AdminConnection

    func run() async throws {
        let path = "/admin/v1/tenants/\(ConfigObject.escape(self.tenant))/routes/\(ConfigObject.escape(self.alias))/revisions"
        let revisions = try await self.connection.withClient { try await $0.send(.GET, path).1["data"]?.arrayValue ?? [] }
        say("REVISION  CREATED                   BY        COMMENT")
        for revision in revisions {
            let number = String(revision["revision"]?.intValue ?? 0)
            let created = revision["created_at"]?.stringValue ?? ""
            let by = revision["created_by"]?.stringValue ?? ""
            say(
                number.padding(toLength: 10, withPad: " ", startingAt: 0) + created.prefix(24).padding(toLength: 26, withPad: " ", startingAt: 0)
                    + by.padding(toLength: 10, withPad: " ", startingAt: 0) + (revision["comment"]?.stringValue ?? "")
            )
        }
    }
}

/// `switchyard diff`: two revisions of a route, or a file against what is live.
struct DiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two revisions of a route, or files against the live config.",
        discussion: """
            switchyard diff ALIAS --tenant T [--from N] [--to M]   revisions (default: the one before the current, and the current)
            switchyard diff -f FILE                                 what 'apply -f FILE' would change
            Exit status 0 when equal, 1 when different, 2 on errors.
            """
    )

    @Argument(help: "A route's alias (with --tenant).") var alias: String?
    @Option(help: "The route's tenant.") var tenant: String?
    @Option(help: "The older revision.") var from: Int?
    @Option(help: "The newer revision (default: the current one).") var to: Int?
    @Option(name: .shortAndLong, help: "Files to compare with the live config (repeatable).") var file: [String] = []
    @OptionGroup var connection: AdminConnection

    func validate() throws {
        guard (self.alias != nil) != !self.file.isEmpty else { throw ValidationError("give a route ALIAS with --tenant, or -f FILE") }
        if self.alias != nil, self.tenant == nil { throw ValidationError("a route needs --tenant") }
    }

    func run() async throws {
        try await exitTwoOnError { try await self.compare() }
    }

    func compare() async throws {
        var differs = false
        try await self.connection.withClient { admin in
            if let alias = self.alias, let tenant = self.tenant {
                let base = "/admin/v1/tenants/\(ConfigObject.escape(tenant))/routes/\(ConfigObject.escape(alias))"
                let current = try await admin.send(.GET, base).1
                let newest = self.to ?? Int(current["revision"]?.intValue ?? 1)
                let oldest = self.from ?? max(1, newest - 1)
                let old = try await admin.send(.GET, "\(base)/revisions/\(oldest)").1
                let new = try await admin.send(.GET, "\(base)/revisions/\(newest)").1
                let text = LineDiff.render(Self.specText(old), Self.specText(new))
                say("--- \(tenant)/\(alias) revision \(oldest)\n+++ \(tenant)/\(alias) revision \(newest)")
                print(text.isEmpty ? "(no difference)" : text, terminator: text.isEmpty ? "\n" : "")
                differs = !text.isEmpty
                return
            }
            for path in self.file {
                for object in try ConfigDocuments.parse(try readInput(path), name: path, resolvingSecrets: false) {
                    let (status, live) = try await admin.send(.GET, object.path, allow: [404])
                    if status == 404 {
                        say("\(object.label): would be created")
                        differs = true
                        continue
                    }
                    if object.kind == .prompt {
                        var body = object.body
                        body["labels"] = nil
                        let specFields: Set<String> = ["variables", "variants", "tools", "response_schema", "on_invalid_output"]
                        let latest = live["latest"] ?? .null
                        guard !ApplyCommand.samePrompt(latest, body) else { continue }
                        let old = JSONValue.object((latest.objectValue ?? [:]).filter { specFields.contains($0.key) })
                        let new = JSONValue.object(body.filter { specFields.contains($0.key) })
                        let canonical = { (value: JSONValue) in (try? PromptSpec(json: value))?.json ?? value }
                        say("\(object.label): differs from version \(live["latest_version"]?.intValue ?? 0)")
                        print(LineDiff.render(canonical(old).outline, canonical(new).outline), terminator: "")
                        differs = true
                        continue
                    }
                    let wanted: JSONValue
                    let existing: JSONValue
                    if object.kind == .budget, let new = ApplyCommand.canonicalBudget(.object(object.body), name: object.name) {
                        wanted = new
                        existing = ApplyCommand.canonicalBudget(live, name: object.name) ?? live
                    } else if object.kind == .route,
                        let spec = try? RouteSpec(reading: FieldReader(.object(object.body), allowed: RouteSpec.fields.union(["comment"])))
                    {
                        var canonical = spec.json.objectValue ?? [:]
                        canonical["comment"] = object.body["comment"] ?? ""
                        wanted = .object(canonical)
                        let liveFields = live.objectValue ?? [:]
                        var current =
                            (try? RouteSpec(json: .object(liveFields.filter { RouteSpec.fields.contains($0.key) })))?.json.objectValue ?? [:]
                        current["comment"] = liveFields["comment"] ?? ""
                        existing = .object(current)
                    } else {
                        // Keys are never read back: credentials compare by name and weight only.
                        var body = object.body.filter { $0.key != "api_key" }
                        // What `apply` would write: omitted fields are reset to their defaults.
                        for (key, value) in ApplyCommand.defaults[object.kind] ?? [:] where body[key] == nil { body[key] = value }
                        if case .array(let list) = body["credentials"] ?? .null {
                            body["credentials"] = .array(
                                list.map { entry in
                                    var summary: JSONValue = ["name": entry["name"] ?? .null, "weight": entry["weight"] ?? 1]
                                    if let capacity = entry["capacity"] {
                                        summary["capacity"] = ["rpm": capacity["rpm"] ?? .null, "tpm": capacity["tpm"] ?? .null]
                                    }
                                    return summary
                                }
                            )
                        }
                        wanted = Self.normalized(.object(body))
                        existing = Self.normalized(.object((live.objectValue ?? [:]).filter { body.keys.contains($0.key) }))
                    }
                    let text = LineDiff.render(ConfigDocuments.render(existing, yaml: true), ConfigDocuments.render(wanted, yaml: true))
                    if text.isEmpty {
                        say("\(object.label): unchanged")
                    } else {
                        differs = true
                        say("\(object.label): would change\n\(text)")
                    }
                }
            }
        }
        if differs { throw ExitCode(1) }
    }

    /// Whole numbers written as `1` and stored as `1.0` are the same value: compare them as one.
    static func normalized(_ value: JSONValue) -> JSONValue {
        switch value {
        case .double(let number) where number == number.rounded() && abs(number) < 1e15: .int(Int64(number))
        case .array(let items): .array(items.map(Self.normalized))
        case .object(let fields): .object(fields.mapValues(Self.normalized))
        default: value
        }
    }

    static func specText(_ revision: JSONValue) -> String {
        ConfigDocuments.render(.object((revision.objectValue ?? [:]).filter { RouteSpec.fields.contains($0.key) || $0.key == "comment" }), yaml: true)
    }
}

/// `switchyard routes simulate`: the routing decision for a described request.
struct RoutesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "routes", abstract: "Route tools.", subcommands: [SimulateCommand.self])

    struct SimulateCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "simulate",
            abstract: "Show which rule, variant and attempt plan a request would get, without calling a provider."
        )

        @Argument(help: "The route's alias.") var alias: String
        @Option(help: "The route's tenant.") var tenant: String
        @Option(help: "The chat-completions request body: a JSON file, or '-' for standard input.") var body: String?
        @Option(name: .customShort("H"), help: "A request header, 'name: value' (repeatable).") var header: [String] = []
        @Option(help: "Simulate a request with this key (its labels and id).") var keyID: String?
        @Option(help: "Simulate a node in this region.") var region: String?
        @Option(help: "A one-line user message, instead of --body.") var message: String?
        @OptionGroup var connection: AdminConnection

        func run() async throws {
            var headers: [String: JSONValue] = [:]
            for line in self.header {
                let parts = line.split(separator: ":", maxSplits: 1)
                guard parts.count == 2 else { throw ValidationError("-H takes 'name: value', got '\(line)'") }
                headers[parts[0].trimmingCharacters(in: .whitespaces)] = .string(parts[1].trimmingCharacters(in: .whitespaces))
            }
            let requestBody: JSONValue
            if let path = self.body {
                requestBody = try JSONValue(parsing: try readInput(path).utf8)
            } else {
                requestBody = ["messages": [["role": "user", "content": .string(self.message ?? "hello")]]]
            }
            var input: [String: JSONValue] = ["headers": .object(headers), "body": requestBody]
            if let keyID = self.keyID { input["key_id"] = .string(keyID) }
            if let region = self.region { input["region"] = .string(region) }
            let path = "/admin/v1/tenants/\(ConfigObject.escape(self.tenant))/routes/\(ConfigObject.escape(self.alias))/simulate"
            let answer = try await self.connection.withClient { try await $0.send(.POST, path, .object(input)).1 }
            print(ConfigDocuments.render(answer, yaml: true), terminator: "")
        }
    }
}

/// Runs a command whose exit status means something (1: refused or drifted): any other failure
/// (unreachable control plane, unreadable file) exits 2, so CI can tell them apart.
func exitTwoOnError(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let exit as ExitCode {
        throw exit
    } catch {
        try? FileHandle.standardError.write(contentsOf: Data("error: \(error)\n".utf8))
        throw ExitCode(2)
    }
}

/// A file's text, or standard input for `-`.
func readInput(_ path: String) throws -> String {
    if path == "-" {
        return String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
    }
    do {
        return try String(contentsOfFile: path, encoding: .utf8)
    } catch {
        throw ValidationError("cannot read \(path): \(error.localizedDescription)")
    }
}

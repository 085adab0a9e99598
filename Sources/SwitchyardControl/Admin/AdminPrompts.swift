import Foundation
import Hummingbird
import SwitchyardCore

/// Versioned prompts under `/admin/v1/tenants/{tenant}/prompts`: immutable versions, labels
/// that point at versions, history and diff. Routes reference `name@version` or `name@label`.
extension AdminAPI {
    static let promptEndpoints: [(method: String, path: String)] = [
        ("GET", "/admin/v1/tenants/{tenant}/prompts"),
        ("GET", "/admin/v1/tenants/{tenant}/prompts/{prompt}"), ("DELETE", "/admin/v1/tenants/{tenant}/prompts/{prompt}"),
        ("GET", "/admin/v1/tenants/{tenant}/prompts/{prompt}/versions"),
        ("POST", "/admin/v1/tenants/{tenant}/prompts/{prompt}/versions"),
        ("GET", "/admin/v1/tenants/{tenant}/prompts/{prompt}/versions/{version}"),
        ("PUT", "/admin/v1/tenants/{tenant}/prompts/{prompt}/labels/{label}"),
        ("DELETE", "/admin/v1/tenants/{tenant}/prompts/{prompt}/labels/{label}"),
        ("GET", "/admin/v1/tenants/{tenant}/prompts/{prompt}/diff"),
    ]

    func registerPrompts(on admin: RouterGroup<some RequestContext>) {
        admin.get("tenants/:tenant/prompts") { _, context in
            let tenant = try await self.requireTenant(context, .read)
            return Self.list(try await self.store.listPrompts(tenant: tenant.name).map(Self.render))
        }
        admin.get("tenants/:tenant/prompts/:prompt") { _, context in
            let prompt = try await self.requirePrompt(context, .read)
            var body = Self.render(prompt).objectValue ?? [:]
            if let latest = try await self.store.promptVersions(tenant: prompt.tenant, name: prompt.name, version: prompt.latestVersion).first {
                body["latest"] = Self.render(latest, labels: prompt.labels)
            }
            return JSONValue.object(body)
        }
        admin.delete("tenants/:tenant/prompts/:prompt") { _, context in
            let prompt = try await self.requirePrompt(context, .write)
            let version = try await self.mapped { try await self.store.deletePrompt(tenant: prompt.tenant, name: prompt.name, actor: self.actor) }
            return Response(status: .noContent, headers: Self.versionHeader(version))
        }
        admin.get("tenants/:tenant/prompts/:prompt/versions") { request, context in
            let prompt = try await self.requirePrompt(context, .read)
            let query = request.uri.queryParameters
            try Self.rejectUnknownParameters(
                query.map { String($0.key) },
                known: ["limit", "before_version"]
            )
            var limit = 50
            if let text = query.get("limit") {
                guard let number = Int(text), (1...500).contains(number) else {
                    throw AdminError.invalid("limit", "must be an integer from 1 to 500")
                }
                limit = number
            }
            var before: Int?
            if let text = query.get("before_version") {
                guard let number = Int(text), number > 0 else { throw AdminError.invalid("before_version", "must be a version number") }
                before = number
            }
            let versions = try await self.store.promptVersions(tenant: prompt.tenant, name: prompt.name, before: before, limit: limit)
            let next: JSONValue = versions.count == limit ? versions.last.map { .int(Int64($0.version)) } ?? .null : .null
            return JSONValue.object([
                "data": .array(versions.map { Self.render($0, labels: prompt.labels) }), "next_before_version": next,
            ])
        }
        admin.post("tenants/:tenant/prompts/:prompt/versions") { request, context in
            let tenant = try await self.requireTenant(context, .write)
            let name = try Self.param(context, "prompt")
            try AdminInputs.checkName(name, field: "prompt")
            let body = try await Self.body(request, context)
            var fields = body.objectValue ?? [:]
            let comment = fields.removeValue(forKey: "comment")
            guard comment == nil || comment?.stringValue != nil, (comment?.stringValue?.utf8.count ?? 0) <= 1_000 else {
                throw AdminError.invalid("comment", "must be a string of at most 1000 bytes")
            }
            guard case .object = body else { throw AdminError.invalid("$", "must be a JSON object: the prompt version") }
            let spec = try PromptSpec(json: .object(fields))
            if try await self.store.prompt(tenant: tenant.name, name: name) == nil {
                try await self.checkLimit(.prompts, tenant: tenant.name, limit: Self.maxPromptsPerTenant, what: "prompts")
            }
            let (record, created, version) = try await self.mapped {
                try await self.store.createPromptVersion(
                    tenant: tenant.name,
                    name: name,
                    spec: spec,
                    comment: comment?.stringValue ?? "",
                    actor: self.actor
                )
            }
            let labels = try await self.store.prompt(tenant: tenant.name, name: name)?.labels ?? [:]
            return Response.json(
                Self.render(record, labels: labels),
                status: created ? .created : .ok,
                headers: try await self.versionHeader(version)
            )
        }
        admin.get("tenants/:tenant/prompts/:prompt/versions/:version") { _, context in
            let prompt = try await self.requirePrompt(context, .read)
            let number = try Self.versionParam(context, "version")
            guard let found = try await self.store.promptVersions(tenant: prompt.tenant, name: prompt.name, version: number).first else {
                throw AdminError.notFound("prompt '\(prompt.name)' has no version \(number)")
            }
            return Self.render(found, labels: prompt.labels)
        }
        admin.put("tenants/:tenant/prompts/:prompt/labels/:label") { request, context in
            let prompt = try await self.requirePrompt(context, .write)
            let label = try Self.param(context, "label")
            guard PromptRef.isValidLabel(label) else {
                throw AdminError.invalid("label", "must be 1-32 lower-case letters, digits, '_' or '-', starting with a letter")
            }
            let reader = try FieldReader(try await Self.body(request, context), allowed: ["version"])
            guard let number = try reader.integer("version", in: 1...Int(Int32.max)) else { throw AdminError.invalid("version", "is required") }
            if prompt.labels[label] == nil, prompt.labels.count >= Self.maxLabelsPerPrompt {
                throw AdminError.conflict(
                    "prompt '\(prompt.name)' already has \(prompt.labels.count) labels, the limit is \(Self.maxLabelsPerPrompt)"
                )
            }
            let version = try await self.mapped(field: "version") {
                try await self.store.setPromptLabel(tenant: prompt.tenant, name: prompt.name, label: label, version: number, actor: self.actor)
            }
            guard let updated = try await self.store.prompt(tenant: prompt.tenant, name: prompt.name) else {
                throw AdminError.notFound("prompt '\(prompt.name)' does not exist in tenant '\(prompt.tenant)'")
            }
            return Response.json(Self.render(updated), headers: try await self.versionHeader(version))
        }
        admin.delete("tenants/:tenant/prompts/:prompt/labels/:label") { _, context in
            let prompt = try await self.requirePrompt(context, .write)
            let label = try Self.param(context, "label")
            let version = try await self.mapped {
                try await self.store.deletePromptLabel(tenant: prompt.tenant, name: prompt.name, label: label, actor: self.actor)
            }
            return Response(status: .noContent, headers: Self.versionHeader(version))
        }
        admin.get("tenants/:tenant/prompts/:prompt/diff") { request, context in
            let prompt = try await self.requirePrompt(context, .read)
            let query = request.uri.queryParameters
            try Self.rejectUnknownParameters(
                query.map { String($0.key) },
                known: ["from", "to"]
            )
            func version(_ name: String, default fallback: Int) throws -> Int {
                guard let text = query.get(name) else { return fallback }
                guard let number = Int(text), number > 0 else { throw AdminError.invalid(name, "must be a version number") }
                return number
            }
            let to = try version("to", default: prompt.latestVersion)
            let from = try version("from", default: max(1, to - 1))
            guard let old = try await self.store.promptVersions(tenant: prompt.tenant, name: prompt.name, version: from).first else {
                throw AdminError.invalid("from", "prompt '\(prompt.name)' has no version \(from)")
            }
            guard let new = try await self.store.promptVersions(tenant: prompt.tenant, name: prompt.name, version: to).first else {
                throw AdminError.invalid("to", "prompt '\(prompt.name)' has no version \(to)")
            }
            let diff = LineDiff.render(old.spec.json.outline, new.spec.json.outline)
            return JSONValue.object([
                "prompt": .string(prompt.name), "from": .int(Int64(from)), "to": .int(Int64(to)),
                "changed": .bool(!diff.isEmpty), "diff": .string(diff),
            ])
        }
    }

    static let maxPromptsPerTenant = 1_000
    static let maxLabelsPerPrompt = 32

    func requirePrompt(_ context: some RequestContext, _ need: AdminNeed) async throws -> PromptRecord {
        let tenant = try await self.requireTenant(context, need)
        let name = try Self.param(context, "prompt")
        guard let prompt = try await self.store.prompt(tenant: tenant.name, name: name) else {
            throw AdminError.notFound("prompt '\(name)' does not exist in tenant '\(tenant.name)'")
        }
        return prompt
    }

    static func versionParam(_ context: some RequestContext, _ name: String) throws -> Int {
        let text = try Self.param(context, name)
        guard let number = Int(text), number > 0 else { throw AdminError.invalid(name, "must be a positive integer") }
        return number
    }

    static func render(_ prompt: PromptRecord) -> JSONValue {
        [
            "name": .string(prompt.name), "latest_version": .int(Int64(prompt.latestVersion)),
            "labels": .object(prompt.labels.mapValues { .int(Int64($0)) }), "created_at": timestamp(prompt.createdAt),
        ]
    }

    /// A version: its spec in canonical form plus its metadata and the labels pointing at it.
    static func render(_ version: PromptVersionRecord, labels: [String: Int]) -> JSONValue {
        var object = version.spec.json.objectValue ?? [:]
        object["name"] = .string(version.name)
        object["version"] = .int(Int64(version.version))
        object["comment"] = .string(version.comment)
        object["created_by"] = .string(version.createdBy)
        object["created_at"] = timestamp(version.createdAt)
        object["labels"] = .array(labels.filter { $0.value == version.version }.keys.sorted().map(JSONValue.string))
        return .object(object)
    }
}

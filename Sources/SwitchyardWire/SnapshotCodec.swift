public import Foundation
import SwiftProtobuf
public import SwitchyardCore

/// Converts between the Core config model and the protobuf shards of a snapshot.
/// Hashing and credential sealing live with the callers (they need swift-crypto); this file only
/// shapes bytes, deterministically, so equal config gives equal shard hashes.
public enum SnapshotCodec {
    /// Serializes the shared shard (providers and models). `seal` turns a provider's plaintext
    /// API key into the bytes the node can unseal; it must be deterministic so that equal config
    /// gives equal bytes on every replica.
    public static func encodeShared(
        providers: [ProviderConfig],
        models: [ModelConfig],
        seal: (_ secret: String, _ provider: String) throws -> Data
    ) throws -> Data {
        var shard = Switchyard_V1_SharedShard()
        shard.providers = try providers.sorted { $0.name < $1.name }.map { provider in
            var message = Switchyard_V1_Provider()
            message.name = provider.name
            message.kind = provider.kind.rawValue
            message.baseURL = provider.baseURL
            message.credentials = try provider.credentials.sorted { $0.name < $1.name }.map { credential in
                var sealed = Switchyard_V1_Credential()
                sealed.name = credential.name
                sealed.weight = UInt32(clamping: credential.weight)
                sealed.sealedKey = try seal(credential.key, "\(provider.name)/\(credential.name)")
                if !credential.capacity.isEmpty { sealed.capacity = Self.rateLimits(credential.capacity) }
                return sealed
            }
            return message
        }
        shard.models = models.sorted { $0.name < $1.name }.map { model in
            var message = Switchyard_V1_Model()
            message.name = model.name
            message.provider = model.provider
            message.upstreamModel = model.upstreamModel
            message.inputPricePerMtok = model.inputPricePerMTok
            message.outputPricePerMtok = model.outputPricePerMTok
            message.tags = Self.labels(model.tags)
            message.capabilities = model.capabilities.sorted()
            message.requestPriceMicros = model.requestPriceMicros
            message.prices = model.priceVersions.map { price in
                .with {
                    $0.effectiveAtUnixMs = price.effectiveAtUnixMs
                    $0.inputPricePerMtok = price.inputPerMTok
                    $0.outputPricePerMtok = price.outputPerMTok
                    if let cached = price.cachedInputPerMTok { $0.cachedInputPricePerMtok = cached }
                    $0.requestPriceMicros = price.requestMicros
                }
            }
            return message
        }
        return try shard.serializedData()
    }

    public static func encodeTenant(_ tenant: TenantConfig) throws -> Data {
        var shard = Switchyard_V1_TenantShard()
        shard.name = tenant.name
        shard.labels = Self.labels(tenant.labels)
        shard.policy = Self.policy(tenant.policy)
        if !tenant.rateLimits.isEmpty { shard.rateLimits = Self.rateLimits(tenant.rateLimits) }
        shard.budgets = tenant.budgets.sorted { $0.name < $1.name }.map { budget in
            .with {
                $0.name = budget.name
                $0.scopeKind = budget.scope.kind
                $0.scopeValue = budget.scope.value
                $0.period = budget.period.rawValue
                $0.timeZone = budget.timeZone
                $0.limitMicros = budget.limitMicros
                $0.mode = budget.mode.rawValue
                $0.outagePolicy = budget.outagePolicy.rawValue
                $0.safeAllowanceMicros = budget.safeAllowanceMicros
            }
        }
        shard.prompts = tenant.prompts.sorted { ($0.name, $0.version) < ($1.name, $1.version) }.map { prompt in
            .with {
                $0.name = prompt.name
                $0.version = UInt32(clamping: prompt.version)
                $0.specJson = Data(prompt.spec.json.serialized(sortedKeys: true))
            }
        }
        shard.promptLabels = tenant.promptLabels.sorted { $0.key < $1.key }.flatMap { prompt, labels in
            labels.sorted { $0.key < $1.key }.map { label, version in
                Switchyard_V1_PromptLabel.with {
                    $0.prompt = prompt
                    $0.label = label
                    $0.version = UInt32(clamping: version)
                }
            }
        }
        shard.keys = tenant.keys.sorted { $0.id < $1.id }.map { key in
            var message = Switchyard_V1_ApiKey()
            message.id = key.id
            message.name = key.name
            message.prefix = key.prefix
            message.sha256 = key.sha256
            message.labels = Self.labels(key.labels)
            message.expiresAtUnixMs = key.expiresAtUnixMs ?? 0
            message.allowedRoutes = key.allowedRoutes.sorted()
            message.policy = Self.policy(key.policy)
            if !key.rateLimits.isEmpty { message.rateLimits = Self.rateLimits(key.rateLimits) }
            return message
        }
        shard.routes = tenant.routes.sorted { $0.alias < $1.alias }.map { route in
            var message = Switchyard_V1_Route()
            message.alias = route.alias
            message.revision = UInt64(route.revision)
            message.specJson = Data(route.spec.json.serialized(sortedKeys: true))
            return message
        }
        return try shard.serializedData()
    }

    static func rateLimits(_ limits: RateLimits) -> Switchyard_V1_RateLimits {
        .with {
            $0.rpm = limits.rpm ?? 0
            $0.tpm = limits.tpm ?? 0
        }
    }

    static func rateLimits(_ message: Switchyard_V1_RateLimits) -> RateLimits {
        RateLimits(rpm: message.rpm > 0 ? message.rpm : nil, tpm: message.tpm > 0 ? message.tpm : nil)
    }

    static func policy(_ policy: ServingPolicy) -> [Switchyard_V1_PolicyRequirement] {
        policy.require.sorted { $0.key < $1.key }.map { entry in
            .with {
                $0.tag = entry.key
                $0.values = entry.value.sorted()
            }
        }
    }

    static func policy(_ requirements: [Switchyard_V1_PolicyRequirement]) -> ServingPolicy {
        ServingPolicy(require: Dictionary(requirements.map { ($0.tag, Set($0.values)) }, uniquingKeysWith: { first, _ in first }))
    }

    static func labels(_ labels: [String: String]) -> [Switchyard_V1_Label] {
        labels.sorted { $0.key < $1.key }.map { entry in
            .with {
                $0.name = entry.key
                $0.value = entry.value
            }
        }
    }

    /// Rebuilds a snapshot from a manifest and the shard bytes it references (already checked
    /// against their hashes). `unseal` recovers a credential from its sealed bytes and context
    /// (`<provider>/<credential>`).
    /// `reusing` holds tenants decoded from earlier snapshots by their shard's hash: a shard
    /// that did not change is not decoded again (with 1,000 tenants, a change to one decodes one).
    public static func decode(
        manifest: Switchyard_V1_SnapshotManifest,
        blobs: [String: Data],
        reusing: [String: TenantConfig] = [:],
        unseal: (_ sealed: Data, _ provider: String) throws -> String
    ) throws(SnapshotValidationError) -> ConfigSnapshot {
        func blob(_ ref: Switchyard_V1_ShardRef) throws(SnapshotValidationError) -> Data {
            guard let data = blobs[ref.sha256] else { throw .init("shard \(ref.sha256) is missing") }
            return data
        }
        let shared: Switchyard_V1_SharedShard
        do {
            shared = try Switchyard_V1_SharedShard(serializedBytes: try blob(manifest.shared))
        } catch let error as SnapshotValidationError {
            throw error
        } catch {
            throw .init("shared shard does not decode: \(error)")
        }
        var providers: [ProviderConfig] = []
        for message in shared.providers {
            guard let kind = ProviderKind(rawValue: message.kind) else {
                throw .init("provider '\(message.name)' has unknown kind '\(message.kind)'")
            }
            var credentials: [ProviderCredential] = []
            for sealed in message.credentials {
                do {
                    let key = try unseal(sealed.sealedKey, "\(message.name)/\(sealed.name)")
                    credentials.append(
                        ProviderCredential(name: sealed.name, key: key, weight: Int(sealed.weight), capacity: Self.rateLimits(sealed.capacity))
                    )
                } catch {
                    throw .init("provider '\(message.name)' credential '\(sealed.name)' cannot be unsealed with this node's token")
                }
            }
            providers.append(ProviderConfig(name: message.name, kind: kind, baseURL: message.baseURL, credentials: credentials))
        }
        let models = shared.models.map {
            ModelConfig(
                name: $0.name,
                provider: $0.provider,
                upstreamModel: $0.upstreamModel,
                inputPricePerMTok: $0.inputPricePerMtok,
                outputPricePerMTok: $0.outputPricePerMtok,
                tags: Self.labels($0.tags),
                capabilities: Set($0.capabilities),
                requestPriceMicros: $0.requestPriceMicros,
                priceVersions: $0.prices.map { price in
                    ModelPrice(
                        effectiveAtUnixMs: price.effectiveAtUnixMs,
                        inputPerMTok: price.inputPricePerMtok,
                        outputPerMTok: price.outputPricePerMtok,
                        cachedInputPerMTok: price.hasCachedInputPricePerMtok ? price.cachedInputPricePerMtok : nil,
                        requestMicros: price.requestPriceMicros
                    )
                }
            )
        }
        var tenants: [TenantConfig] = []
        tenants.reserveCapacity(manifest.tenants.count)
        for ref in manifest.tenants {
            if let tenant = reusing[ref.sha256], tenant.name == ref.name {
                tenants.append(tenant)
                continue
            }
            let shard: Switchyard_V1_TenantShard
            do {
                shard = try Switchyard_V1_TenantShard(serializedBytes: try blob(ref))
            } catch let error as SnapshotValidationError {
                throw error
            } catch {
                throw .init("tenant shard '\(ref.name)' does not decode: \(error)")
            }
            guard shard.name == ref.name else { throw .init("tenant shard '\(ref.name)' holds tenant '\(shard.name)'") }
            var routes: [RouteConfig] = []
            routes.reserveCapacity(shard.routes.count)
            for route in shard.routes {
                do {
                    let spec = try RouteSpec(json: try JSONValue(parsing: route.specJson))
                    routes.append(RouteConfig(alias: route.alias, revision: Int(clamping: route.revision), spec: spec))
                } catch {
                    throw .init("route '\(shard.name)/\(route.alias)' has a spec this node cannot run: \(error)")
                }
            }
            var prompts: [PromptVersionConfig] = []
            for prompt in shard.prompts {
                do {
                    let spec = try PromptSpec(json: try JSONValue(parsing: prompt.specJson))
                    prompts.append(PromptVersionConfig(name: prompt.name, version: Int(prompt.version), spec: spec))
                } catch {
                    throw .init("prompt '\(shard.name)/\(prompt.name)@\(prompt.version)' has a spec this node cannot run: \(error)")
                }
            }
            var budgets: [BudgetConfig] = []
            for budget in shard.budgets {
                guard let scope = BudgetConfig.Scope(kind: budget.scopeKind, value: budget.scopeValue),
                    let period = BudgetConfig.Period(rawValue: budget.period), let mode = BudgetConfig.Mode(rawValue: budget.mode),
                    let policy = BudgetConfig.OutagePolicy(rawValue: budget.outagePolicy)
                else { throw .init("budget '\(shard.name)/\(budget.name)' has a form this node cannot enforce") }
                budgets.append(
                    BudgetConfig(
                        name: budget.name,
                        scope: scope,
                        period: period,
                        timeZone: budget.timeZone,
                        limitMicros: budget.limitMicros,
                        mode: mode,
                        outagePolicy: policy,
                        safeAllowanceMicros: budget.safeAllowanceMicros
                    )
                )
            }
            var promptLabels: [String: [String: Int]] = [:]
            for label in shard.promptLabels { promptLabels[label.prompt, default: [:]][label.label] = Int(label.version) }
            var tenant = TenantConfig(
                name: shard.name,
                version: Int(clamping: ref.version),
                labels: Self.labels(shard.labels),
                keys: shard.keys.map {
                    var key = APIKeyConfig(
                        id: $0.id,
                        name: $0.name,
                        prefix: $0.prefix,
                        sha256: $0.sha256,
                        labels: Self.labels($0.labels),
                        expiresAtUnixMs: $0.expiresAtUnixMs == 0 ? nil : $0.expiresAtUnixMs,
                        allowedRoutes: Set($0.allowedRoutes),
                        policy: Self.policy($0.policy)
                    )
                    key.rateLimits = Self.rateLimits($0.rateLimits)
                    return key
                },
                routes: routes,
                policy: Self.policy(shard.policy),
                prompts: prompts,
                promptLabels: promptLabels,
                budgets: budgets
            )
            tenant.rateLimits = Self.rateLimits(shard.rateLimits)
            tenants.append(tenant)
        }
        return ConfigSnapshot(version: Int(clamping: manifest.version), providers: providers, models: models, tenants: tenants)
    }

    static func labels(_ labels: [Switchyard_V1_Label]) -> [String: String] {
        Dictionary(labels.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
    }
}

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
            if let key = provider.apiKey, !key.isEmpty { message.sealedApiKey = try seal(key, provider.name) }
            return message
        }
        shard.models = models.sorted { $0.name < $1.name }.map { model in
            var message = Switchyard_V1_Model()
            message.name = model.name
            message.provider = model.provider
            message.upstreamModel = model.upstreamModel
            message.inputPricePerMtok = model.inputPricePerMTok
            message.outputPricePerMtok = model.outputPricePerMTok
            return message
        }
        return try shard.serializedData()
    }

    public static func encodeTenant(_ tenant: TenantConfig) throws -> Data {
        var shard = Switchyard_V1_TenantShard()
        shard.name = tenant.name
        shard.keys = tenant.keys.sorted { $0.id < $1.id }.map { key in
            var message = Switchyard_V1_ApiKey()
            message.id = key.id
            message.name = key.name
            message.prefix = key.prefix
            message.sha256 = key.sha256
            return message
        }
        shard.routes = tenant.routes.sorted { $0.alias < $1.alias }.map { route in
            var message = Switchyard_V1_Route()
            message.alias = route.alias
            message.revision = UInt64(route.revision)
            message.defaultTarget = .with { $0.model = route.defaultTarget.model }
            message.fallbacks = route.fallbacks.map { target in .with { $0.model = target.model } }
            message.timeouts = .with {
                $0.firstTokenMs = UInt32(clamping: route.timeouts.firstTokenMs)
                $0.totalMs = UInt32(clamping: route.timeouts.totalMs)
            }
            return message
        }
        return try shard.serializedData()
    }

    /// Rebuilds a snapshot from a manifest and the shard bytes it references (already checked
    /// against their hashes). `unseal` recovers a provider's API key.
    public static func decode(
        manifest: Switchyard_V1_SnapshotManifest,
        blobs: [String: Data],
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
            var apiKey: String?
            if !message.sealedApiKey.isEmpty {
                do {
                    apiKey = try unseal(message.sealedApiKey, message.name)
                } catch {
                    throw .init("provider '\(message.name)' credentials cannot be unsealed with this node's token")
                }
            }
            providers.append(ProviderConfig(name: message.name, kind: kind, baseURL: message.baseURL, apiKey: apiKey))
        }
        let models = shared.models.map {
            ModelConfig(
                name: $0.name,
                provider: $0.provider,
                upstreamModel: $0.upstreamModel,
                inputPricePerMTok: $0.inputPricePerMtok,
                outputPricePerMTok: $0.outputPricePerMtok
            )
        }
        var tenants: [TenantConfig] = []
        tenants.reserveCapacity(manifest.tenants.count)
        for ref in manifest.tenants {
            let shard: Switchyard_V1_TenantShard
            do {
                shard = try Switchyard_V1_TenantShard(serializedBytes: try blob(ref))
            } catch let error as SnapshotValidationError {
                throw error
            } catch {
                throw .init("tenant shard '\(ref.name)' does not decode: \(error)")
            }
            guard shard.name == ref.name else { throw .init("tenant shard '\(ref.name)' holds tenant '\(shard.name)'") }
            tenants.append(
                TenantConfig(
                    name: shard.name,
                    version: Int(clamping: ref.version),
                    keys: shard.keys.map { APIKeyConfig(id: $0.id, name: $0.name, prefix: $0.prefix, sha256: $0.sha256) },
                    routes: shard.routes.map { route in
                        RouteConfig(
                            alias: route.alias,
                            revision: Int(clamping: route.revision),
                            defaultTarget: Target(model: route.defaultTarget.model),
                            fallbacks: route.fallbacks.map { Target(model: $0.model) },
                            timeouts: Timeouts(firstTokenMs: Int(route.timeouts.firstTokenMs), totalMs: Int(route.timeouts.totalMs))
                        )
                    }
                )
            )
        }
        return ConfigSnapshot(version: Int(clamping: manifest.version), providers: providers, models: models, tenants: tenants)
    }
}

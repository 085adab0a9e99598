/// Hard limits a node enforces before it swaps a snapshot in. A snapshot over any limit is
/// rejected (NACK) and the node keeps serving the one it has.
public struct SnapshotLimits: Sendable, Hashable {
    public var maxTenants: Int
    public var maxRoutesPerTenant: Int
    public var maxKeysPerTenant: Int
    public var maxFallbacks: Int
    public var maxModels: Int
    public var maxProviders: Int
    /// Total size of the shards a snapshot references.
    public var maxSnapshotBytes: Int

    public init(
        maxTenants: Int = 100_000,
        maxRoutesPerTenant: Int = 10_000,
        maxKeysPerTenant: Int = 10_000,
        maxFallbacks: Int = 8,
        maxModels: Int = 10_000,
        maxProviders: Int = 1_000,
        maxSnapshotBytes: Int = 256 << 20
    ) {
        self.maxTenants = maxTenants
        self.maxRoutesPerTenant = maxRoutesPerTenant
        self.maxKeysPerTenant = maxKeysPerTenant
        self.maxFallbacks = maxFallbacks
        self.maxModels = maxModels
        self.maxProviders = maxProviders
        self.maxSnapshotBytes = maxSnapshotBytes
    }
}

/// Why a snapshot was rejected.
public struct SnapshotValidationError: Error, Sendable, Hashable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { self.reason }
}

extension ConfigSnapshot {
    /// Checks internal consistency (every reference resolves, no duplicates) and the hard limits.
    ///
    /// A node that already validated some tenants under the same providers and models passes
    /// their names as `unchanged`: their routes and prompts are not checked again. With
    /// `keyHashes: false` the cross-tenant check for duplicate key hashes is left to the caller
    /// (``KeyIndex/duplicateKeyTenant`` finds them while indexing, without a set of 100,000
    /// strings).
    public func validate(
        limits: SnapshotLimits,
        unchanged: Set<String> = [],
        keyHashes checkKeyHashes: Bool = true
    ) throws(SnapshotValidationError) {
        if self.providers.count > limits.maxProviders {
            throw .init("\(self.providers.count) providers exceed the limit of \(limits.maxProviders)")
        }
        if self.models.count > limits.maxModels {
            throw .init("\(self.models.count) models exceed the limit of \(limits.maxModels)")
        }
        if self.tenants.count > limits.maxTenants {
            throw .init("\(self.tenants.count) tenants exceed the limit of \(limits.maxTenants)")
        }
        var providerNames = Set<String>()
        for provider in self.providers {
            guard providerNames.insert(provider.name).inserted else { throw .init("duplicate provider '\(provider.name)'") }
            guard provider.baseURL.hasPrefix("http://") || provider.baseURL.hasPrefix("https://") else {
                throw .init("provider '\(provider.name)' has an unusable base URL")
            }
            guard provider.credentials.allSatisfy({ $0.weight >= 0 && !$0.key.isEmpty }),
                provider.credentials.isEmpty || provider.credentials.contains(where: { $0.weight > 0 })
            else {
                throw .init("provider '\(provider.name)' has unusable credentials (empty key or no positive weight)")
            }
        }
        var modelNames = Set<String>()
        for model in self.models {
            guard modelNames.insert(model.name).inserted else { throw .init("duplicate model '\(model.name)'") }
            guard providerNames.contains(model.provider) else {
                throw .init("model '\(model.name)' references unknown provider '\(model.provider)'")
            }
        }
        var tenantNames = Set<String>(minimumCapacity: self.tenants.count)
        // Sized up front: 100,000 keys grown one by one rehash the set over and over.
        var keyHashes = Set<String>(minimumCapacity: checkKeyHashes ? self.tenants.reduce(0) { $0 + $1.keys.count } : 0)
        for tenant in self.tenants {
            guard tenantNames.insert(tenant.name).inserted else { throw .init("duplicate tenant '\(tenant.name)'") }
            if tenant.routes.count > limits.maxRoutesPerTenant {
                throw .init("tenant '\(tenant.name)' has \(tenant.routes.count) routes, over the limit of \(limits.maxRoutesPerTenant)")
            }
            if tenant.keys.count > limits.maxKeysPerTenant {
                throw .init("tenant '\(tenant.name)' has \(tenant.keys.count) keys, over the limit of \(limits.maxKeysPerTenant)")
            }
            if checkKeyHashes {
                for key in tenant.keys {
                    guard keyHashes.insert(key.sha256).inserted else { throw .init("duplicate API key hash in tenant '\(tenant.name)'") }
                }
            }
            if unchanged.contains(tenant.name) { continue }
            var aliases = Set<String>()
            let promptVersions = Set(tenant.prompts.map { "\($0.name)@\($0.version)" })
            for route in tenant.routes {
                guard aliases.insert(route.alias).inserted else {
                    throw .init("tenant '\(tenant.name)' has a duplicate route '\(route.alias)'")
                }
                let spec = route.spec
                if spec.fallbacks.count > limits.maxFallbacks {
                    throw .init(
                        "route '\(tenant.name)/\(route.alias)' has \(spec.fallbacks.count) fallbacks, over the limit of \(limits.maxFallbacks)"
                    )
                }
                for model in spec.models where !modelNames.contains(model) {
                    throw .init("route '\(tenant.name)/\(route.alias)' references unknown model '\(model)'")
                }
                for ref in spec.promptRefs {
                    let version: Int? =
                        switch ref.selector {
                        case .version(let number): number
                        case .label(let label): tenant.promptLabels[ref.name]?[label]
                        }
                    guard let version, promptVersions.contains("\(ref.name)@\(version)") else {
                        throw .init("route '\(tenant.name)/\(route.alias)' references prompt '\(ref)', which the snapshot does not carry")
                    }
                }
                guard spec.timeouts.firstTokenMs > 0, spec.timeouts.idleMs > 0, spec.timeouts.totalMs > 0, spec.timeouts.requestMs > 0 else {
                    throw .init("route '\(tenant.name)/\(route.alias)' has a non-positive timeout")
                }
            }
        }
    }
}

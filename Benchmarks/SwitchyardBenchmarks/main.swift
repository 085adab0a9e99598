// Micro-benchmarks of the node's hot path (issue 7). Run with a release build:
//   swift run -c release switchyard-microbench [filter]
// Each benchmark runs its body in batches for about half a second per sample, five samples;
// it prints the median time per operation and the heap allocations per operation (calls of
// malloc/calloc/realloc, counted by CMallocCounter). Results are reported in docs/benchmarks.md.
import CMallocCounter
import Foundation
import NIOCore
import SwitchyardControl
import SwitchyardCore
import SwitchyardNode
import SwitchyardWire

@inline(never)
func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}

let filter = CommandLine.arguments.dropFirst().first

/// Times `body` (one operation per call).
func benchmark(_ name: String, _ body: () -> Void) {
    if let filter, !name.contains(filter) { return }
    // Calibrate: how many calls fill about 100 ms.
    var batch = 1
    while true {
        let start = ContinuousClock.now
        for _ in 0..<batch { body() }
        let elapsed = start.duration(to: .now)
        if elapsed > .milliseconds(100) || batch >= 1 << 26 { break }
        batch *= 2
    }
    batch = max(1, batch * 5)
    var samples: [(Double, Double)] = []
    for _ in 0..<5 {
        let allocations = switchyard_malloc_count()
        let start = ContinuousClock.now
        for _ in 0..<batch { body() }
        let elapsed = start.duration(to: .now)
        let allocated = switchyard_malloc_count() - allocations
        let nanoseconds = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
        samples.append((nanoseconds / Double(batch), Double(allocated) / Double(batch)))
    }
    samples.sort { $0.0 < $1.0 }
    let median = samples[2]
    print(name.padding(toLength: 72, withPad: " ", startingAt: 0) + String(format: "%10.1f ns/op %8.2f allocs/op", median.0, median.1))
}

/// Times one run of `body` (operations too slow to repeat many times), median of `runs`.
func once(_ name: String, runs: Int = 3, _ body: () throws -> Void) rethrows {
    if let filter, !name.contains(filter) { return }
    var times: [Double] = []
    var allocations: [Double] = []
    for _ in 0..<runs {
        let before = switchyard_malloc_count()
        let start = ContinuousClock.now
        try body()
        let elapsed = start.duration(to: .now)
        allocations.append(Double(switchyard_malloc_count() - before))
        times.append(Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) / 1e15)
    }
    let order = times.indices.sorted { times[$0] < times[$1] }
    let median = order[order.count / 2]
    print(name.padding(toLength: 72, withPad: " ", startingAt: 0) + String(format: "%10.1f ms    %8.0f allocs", times[median], allocations[median]))
}

/// Resident memory of this process, in MiB.
func residentMiB() -> Int {
    let fields = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8))?.split(separator: " ") ?? []
    return fields.count > 1 ? (Int(fields[1]) ?? 0) * 4096 / (1 << 20) : 0
}

// MARK: - A config like the issue's scale target: 1,000 tenants × 10 routes, 100,000 keys.

let tenantCount = 1_000
let routesPerTenant = 10
let keysPerTenant = 100
let models = [
    ModelConfig(name: "small", provider: "local", upstreamModel: "small", inputPricePerMTok: 0.1, outputPricePerMTok: 0.2),
    ModelConfig(name: "large", provider: "local", upstreamModel: "large", inputPricePerMTok: 1, outputPricePerMTok: 2),
]
let providers = [ProviderConfig(name: "local", kind: .openaiCompatible, baseURL: "http://127.0.0.1:8000/v1", credentials: [])]

func routeSpec(rules: Int) -> RouteSpec {
    let json: JSONValue = [
        "default": ["model": "small"],
        "rules": .array(
            (0..<rules).map { index in
                [
                    "name": .string("rule-\(index)"),
                    "when": ["field": "tag", "op": "eq", "value": .string("tag-\(index)")],
                    "then": ["model": "large"],
                ]
            }
        ),
        "fallbacks": [["model": "large"]],
    ]
    return try! RouteSpec(json: json)
}

var sampleKeys: [String] = []
var generator = SystemRandomNumberGenerator()
let plainSpec = routeSpec(rules: 1)
let tenants: [TenantConfig] = (0..<tenantCount).map { tenantIndex in
    let keys = (0..<keysPerTenant).map { keyIndex -> APIKeyConfig in
        let (secret, prefix) = APIKeyFormat.generate(using: &generator)
        if keyIndex == 0 { sampleKeys.append(secret) }
        return APIKeyConfig(
            id: "key-\(tenantIndex)-\(keyIndex)",
            name: "key \(keyIndex)",
            prefix: prefix,
            sha256: Hashing.sha256Hex(Data(secret.utf8))
        )
    }
    let routes = (0..<routesPerTenant).map { RouteConfig(alias: "route-\($0)", revision: 1, spec: plainSpec) }
    return TenantConfig(name: String(format: "tenant-%04d", tenantIndex), version: 1, keys: keys, routes: routes)
}
let table = RoutingTable(version: 1, providers: providers, models: models, tenants: tenants)

// MARK: - Per request

let authorization = "Bearer " + sampleKeys[500]
benchmark("key lookup (SHA-256 + table of 100,000 keys)") {
    blackHole(try? KeyAuthentication.authenticate(authorization: authorization, apiKey: nil, table: table))
}

let requestBytes = ByteBuffer(
    string:
        #"{"model":"route-3","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Summarise the attached paragraph in one sentence, please."}],"temperature":0.2,"max_tokens":256}"#
)
benchmark("request JSON parse (\(requestBytes.readableBytes) bytes)") {
    blackHole(try? JSONValue(parsing: requestBytes.readableBytesView))
}
benchmark("request parse, model rewrite and re-encode") {
    let json = try! JSONValue(parsing: requestBytes.readableBytesView)
    let chat = try! ChatRequest(json: json)
    blackHole(chat.upstreamBody(upstreamModel: "small").serialized())
}

benchmark("model rewrite in place (JSONSplice)") {
    blackHole(
        requestBytes.readableBytesView.withContiguousStorageIfAvailable {
            JSONSplice.replacingTopLevelString("model", in: $0, with: "small")
        }
    )
}
// A long prompt (~100 KB): what the splice saves grows with the body.
let longPrompt = String(repeating: "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ", count: 1_800)
let longBytes = Array(#"{"model":"route-3","messages":[{"role":"user","content":"\#(longPrompt)"}],"max_tokens":256}"#.utf8)
benchmark("100 KB request: parse, model rewrite and re-encode") {
    let chat = try! ChatRequest(json: try! JSONValue(parsing: longBytes))
    blackHole(chat.upstreamBody(upstreamModel: "small").serialized())
}
benchmark("100 KB request: parse, then model rewrite in place") {
    blackHole(try! JSONValue(parsing: longBytes))
    blackHole(JSONSplice.replacingTopLevelString("model", in: longBytes, with: "small"))
}

let chat = try! ChatRequest(json: try! JSONValue(parsing: requestBytes.readableBytesView))
let key = table.keys.entries.first!.key
let facts = RequestFacts(chat: chat, header: { _ in nil }, key: key, tenantLabels: [:], region: nil)
let manyRules = RouteConfig(alias: "many", revision: 1, spec: routeSpec(rules: 64))
let tenantWithRules = TenantConfig(name: "rules", version: 1, keys: [], routes: [manyRules])
let rulesTable = RoutingTable(version: 1, providers: providers, models: models, tenants: [tenantWithRules])
benchmark("route decision, 64 rules (the most a route may have), none matches") {
    blackHole(manyRules.spec.decide(facts, routeKey: "rules/many"))
}
benchmark("attempt plan (decision, targets, policy), 64 rules") {
    blackHole(try? rulesTable.plan(tenant: "rules", route: manyRules, facts: facts))
}
benchmark("sticky variant hash") {
    blackHole(StickyHash.hash("tenant-0001/route-3#default", "user-1234567"))
}

// One upstream SSE chunk as an OpenAI-compatible server sends it, relayed to an OpenAI client.
let sseChunk = ByteBuffer(
    string:
        #"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"small","choices":[{"index":0,"delta":{"content":"word "},"finish_reason":null}]}"#
        + "\n\n"
)
var relay = SSERelay(includeUsage: false)
benchmark("SSE chunk relay (one \(sseChunk.readableBytes)-byte event, pass-through)") {
    blackHole(relay.feed(sseChunk))
}

let metrics = NodeMetrics()
benchmark("metric recording (request counter + duration histogram)") {
    metrics.request(route: "tenant-0001/route-3", status: 200, duration: .microseconds(850))
}

// MARK: - Snapshot

let sealer = CredentialSealer(nodeToken: "benchmark-node-token")
let compiler = SnapshotCompiler(masterKey: try MasterKey(base64: MasterKey.generateBase64()), sealer: sealer)
let source = SnapshotSource(
    version: 2,
    sharedVersion: 1,
    providers: [.init(name: "local", kind: .openaiCompatible, baseURL: "http://127.0.0.1:8000/v1")],
    models: models,
    tenants: tenants
)
var compiled = try compiler.compile(source)
let shardBytes = compiled.blobs.values.reduce(0) { $0 + $1.count }
print(
    "snapshot: \(tenantCount) tenants × \(routesPerTenant) routes, \(tenantCount * keysPerTenant) keys: "
        + "\(compiled.blobs.count) shards, \(shardBytes / 1024) KiB (+ \(compiled.manifestBytes.count / 1024) KiB manifest)"
)
try once("snapshot compile (control plane, from config in memory)") {
    compiled = try compiler.compile(source)
}
let loader = SnapshotLoader(sealer: sealer, limits: SnapshotLimits())
var loaded: LoadedSnapshot?
let beforeLoad = residentMiB()
try once("snapshot decode, validate and index (node)") {
    loaded = nil
    loaded = try loader.load(manifestBytes: compiled.manifestBytes, blobs: compiled.blobs)
}
print("resident memory: \(beforeLoad) MiB before loading the snapshot, \(residentMiB()) MiB with it loaded")
if filter == nil || "snapshot memory".contains(filter!) {
    // Where the loaded snapshot's heap goes: all of it, the shard bytes kept for reuse, the
    // routing table's own storage (built once more from the decoded tenants), and that table
    // without its key index.
    func heapMiB() -> Double { Double(switchyard_heap_in_use()) / 1_048_576 }
    loaded = nil
    let empty = heapMiB()
    loaded = try loader.load(manifestBytes: compiled.manifestBytes, blobs: compiled.blobs)
    let full = heapMiB()
    let decoded = Array(loaded!.tenantsByShard.values)
    var extra: RoutingTable? = RoutingTable(version: 1, providers: providers, models: models, tenants: decoded)
    let withTable = heapMiB()
    extra = nil
    let keyless = decoded.map { tenant -> TenantConfig in
        var copy = tenant
        copy.keys = []
        return copy
    }
    let beforeKeyless = heapMiB()
    extra = RoutingTable(version: 1, providers: providers, models: models, tenants: keyless)
    let keylessTable = heapMiB()
    blackHole(extra)
    print(
        String(
            format: "snapshot memory: heap %.1f MiB in all (shard bytes kept: %.1f MiB); routing table %.1f MiB, of which key index %.1f MiB",
            full - empty,
            0.0,
            withTable - full,
            (withTable - full) - (keylessTable - beforeKeyless)
        )
    )
}
// The next version changes one tenant: the node decodes that tenant's shard only.
var changed = tenants
changed[0].version = 2
changed[0].routes.append(RouteConfig(alias: "route-new", revision: 1, spec: plainSpec))
let nextSource = SnapshotSource(version: 3, sharedVersion: 1, providers: source.providers, models: models, tenants: changed)
let next = try compiler.compile(nextSource)
try once("snapshot decode with one tenant changed (others reused)") {
    blackHole(try loader.load(manifestBytes: next.manifestBytes, blobs: next.blobs, previous: loaded))
}
// What a version with one changed tenant still costs on the node, piece by piece.
if let decodedTenants = loaded.map({ Array($0.tenantsByShard.values) }) {
    let decodedSnapshot = ConfigSnapshot(version: 3, providers: providers, models: models, tenants: decodedTenants)
    try once("snapshot part: validate the whole config") { try decodedSnapshot.validate(limits: SnapshotLimits()) }
    let keylessSnapshot = ConfigSnapshot(
        version: 3,
        providers: providers,
        models: models,
        tenants: decodedTenants.map { tenant in
            var copy = tenant
            copy.keys = []
            return copy
        }
    )
    try once("snapshot part: validate the whole config without keys") { try keylessSnapshot.validate(limits: SnapshotLimits()) }
    once("snapshot part: routing table (tenants and key index)") {
        blackHole(RoutingTable(version: 3, providers: providers, models: models, tenants: decodedTenants))
    }
    once("snapshot part: key index alone") { blackHole(KeyIndex(tenants: decodedTenants)) }
}
let state = SnapshotState()
benchmark("snapshot swap (atomic store) and a request's read") {
    state.swap(loaded!)
    blackHole(state.loaded)
}

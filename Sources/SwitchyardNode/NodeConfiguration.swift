public import SwitchyardCore

/// Everything a data-plane node needs to start.
public struct NodeConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Base URL of the control plane (any replica, or a load balancer in front of them).
    public var controlURL: String
    public var nodeToken: String
    /// Where the last good snapshot is kept; `nil` keeps nothing on disk.
    public var stateDirectory: String?
    public var nodeID: String
    public var limits: SnapshotLimits
    /// How long a snapshot long-poll may be held by the control plane (jittered down by up to 5 s).
    public var longPollWait: Duration
    /// Connect timeout for provider calls; a refused or unreachable provider fails over after this.
    public var upstreamConnectTimeout: Duration
    public var maxRequestBodyBytes: Int
    public var maxResponseBodyBytes: Int
    /// The node's region, a fact route rules can test (`region`).
    public var region: String?
    /// Consecutive unhealthy outcomes that open a target's circuit.
    public var breakerThreshold: Int
    /// How long an open circuit refuses calls before one probe may go through.
    public var breakerOpenFor: Duration
    /// How often budget spend is reported and leases are topped up.
    public var leaseReportInterval: Duration
    /// How often canary counters are reported.
    public var metricsReportInterval: Duration
    /// Serve with Hummingbird's own HTTP/1 channel instead of ``NodeHTTP1Channel`` (kept to
    /// compare the two in benchmarks; ADR 0009).
    public var hummingbirdServer = false

    var resilience: Resilience.Settings {
        var settings = Resilience.Settings()
        settings.breakerThreshold = self.breakerThreshold
        settings.breakerOpenFor = self.breakerOpenFor
        return settings
    }

    public init(
        host: String = "127.0.0.1",
        port: Int = 7701,
        controlURL: String = "http://127.0.0.1:7700",
        nodeToken: String,
        stateDirectory: String? = nil,
        nodeID: String,
        limits: SnapshotLimits = .init(),
        longPollWait: Duration = .seconds(30),
        upstreamConnectTimeout: Duration = .seconds(3),
        maxRequestBodyBytes: Int = 16 << 20,
        maxResponseBodyBytes: Int = 64 << 20,
        region: String? = nil,
        breakerThreshold: Int = 5,
        breakerOpenFor: Duration = .seconds(30),
        leaseReportInterval: Duration = .seconds(1),
        metricsReportInterval: Duration = .seconds(2)
    ) {
        self.leaseReportInterval = leaseReportInterval
        self.metricsReportInterval = metricsReportInterval
        self.host = host
        self.port = port
        self.controlURL = controlURL
        self.nodeToken = nodeToken
        self.stateDirectory = stateDirectory
        self.nodeID = nodeID
        self.limits = limits
        self.longPollWait = longPollWait
        self.upstreamConnectTimeout = upstreamConnectTimeout
        self.maxRequestBodyBytes = maxRequestBodyBytes
        self.maxResponseBodyBytes = maxResponseBodyBytes
        self.region = region
        self.breakerThreshold = breakerThreshold
        self.breakerOpenFor = breakerOpenFor
    }
}

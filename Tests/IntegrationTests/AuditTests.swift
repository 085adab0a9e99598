import Foundation
import NIOHTTP1
import SwitchyardCLI
import SwitchyardCore
import SwitchyardTesting
import Testing

/// `GET /admin/v1/audit`: filters and backwards paging.
struct AuditTests {
    @Test func auditFiltersAndPages() async throws {
        try await Fixture.with { fixture in
            try await fixture.seed()
            try await fixture.admin.send(.POST, "/admin/v1/tenants", ["name": "other"])
            for index in 0..<5 { try await fixture.route("r\(index)", "good") }
            try await fixture.route("elsewhere", "good", tenant: "other")

            let (_, routes) = try await fixture.admin.send(.GET, "/admin/v1/audit?tenant=acme&object_type=route&limit=2")
            let first = try #require(routes["data"]?.arrayValue)
            #expect(first.count == 2)
            #expect(first.allSatisfy { $0["tenant"] == "acme" && $0["object_type"] == "route" })
            #expect(first.map { $0["object_id"]?.stringValue } == ["acme/r4", "acme/r3"])
            let next = try #require(routes["next_before_id"]?.intValue)
            var pages = first
            var cursor: Int64? = next
            while let before = cursor {
                let (_, page) = try await fixture.admin.send(.GET, "/admin/v1/audit?tenant=acme&object_type=route&limit=2&before_id=\(before)")
                pages += page["data"]?.arrayValue ?? []
                cursor = page["next_before_id"]?.intValue
            }
            #expect(pages.compactMap { $0["object_id"]?.stringValue } == ["acme/r4", "acme/r3", "acme/r2", "acme/r1", "acme/r0"])

            let (_, other) = try await fixture.admin.send(.GET, "/admin/v1/audit?tenant=other")
            #expect(other["data"]?.arrayValue?.compactMap { $0["object_id"]?.stringValue } == ["other/elsewhere", "other"])
            #expect(other["next_before_id"] == .null)

            let (_, providers) = try await fixture.admin.send(.GET, "/admin/v1/audit?action=create&object_type=provider")
            #expect(providers["data"]?.arrayValue?.isEmpty == false)
            #expect(providers["data"]?.arrayValue?.allSatisfy { $0["action"] == "create" } == true)
            let future = Date().addingTimeInterval(3600).formatted(.iso8601)
            let (_, none) = try await fixture.admin.send(.GET, "/admin/v1/audit?since=\(future)")
            #expect(none["data"]?.arrayValue?.isEmpty == true)

            // Before and after, for an update and a delete.
            try await fixture.route("r0", "good-b")
            let (_, update) = try await fixture.admin.send(.GET, "/admin/v1/audit?object_id=acme/r0&limit=1")
            let entry = try #require(update["data"]?[0])
            #expect(entry["action"] == "update")
            #expect(entry["detail"]?["before"]?["revision"] == 1)
            #expect(entry["detail"]?["before"]?["spec"]?["default"]?["model"] == "good")
            #expect(entry["detail"]?["after"]?["spec"]?["default"]?["model"] == "good-b")
            try await fixture.admin.send(
                .PUT,
                "/admin/v1/models/spare",
                ["provider": "mock", "upstream_model": "spare", "input_price_per_mtok": 1, "output_price_per_mtok": 2]
            )
            try await fixture.admin.send(.DELETE, "/admin/v1/models/spare")
            let (_, deleted) = try await fixture.admin.send(.GET, "/admin/v1/audit?object_id=spare&action=delete")
            #expect(deleted["data"]?[0]?["detail"]?["before"]?["upstream_model"] == "spare")
            #expect(deleted["data"]?[0]?["detail"]?["after"] == .null)
            let (_, created) = try await fixture.admin.send(.GET, "/admin/v1/audit?object_id=spare&action=create")
            #expect(created["data"]?[0]?["detail"]?["before"] == .null)

            for (query, field) in [("limit=0", "limit"), ("since=yesterday", "since"), ("before_id=x", "before_id"), ("tenat=acme", "tenat")] {
                let (status, error) = try await fixture.admin.send(.GET, "/admin/v1/audit?\(query)", allow: [422])
                #expect(status == 422, "\(query)")
                #expect(error["error"]?["field"]?.stringValue == field)
            }
        }
    }
}

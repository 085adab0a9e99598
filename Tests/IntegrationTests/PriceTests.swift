import ArgumentParser
import Foundation
import NIOHTTP1
import SwitchyardCore
import SwitchyardTesting
import Testing

@testable import SwitchyardCLI

/// The price catalog: price changes take effect at their time, requests are charged the price
/// in force when they were served, and imports are all or nothing.
struct PriceTests {
    @Test func requestsAreChargedThePriceInForceWhenServed() async throws {
        try await Fixture.with { fixture in
            let key = try await fixture.seed()
            try await BudgetTests.pricedRoute(fixture)
            let connection = ["--admin-url", fixture.control.url, "--admin-token", fixture.secrets.adminToken, "--env-file", "/nonexistent"]

            // A bad row (unknown model) refuses the whole file, naming the row.
            // Far enough ahead that the requests "before" are served well before it, even on a
            // loaded machine (a request is charged as of when the node served it).
            let change = Date().addingTimeInterval(8)
            let effective = change.formatted(.iso8601)
            let bad = temporaryDirectory() + "/bad.csv"
            try Data(
                """
                model,effective_at,input_price_per_mtok,output_price_per_mtok,request_price_usd
                priced,\(effective),0,0,0.002
                nosuch,\(effective),1,1,
                """.utf8
            ).write(to: URL(fileURLWithPath: bad))
            await #expect(throws: ExitCode(2)) { try await PricesCommand.ImportCommand.parse(["-f", bad] + connection).run() }
            #expect(try await fixture.admin.send(.GET, "/admin/v1/models/priced/prices").1["data"] == [])
            let (status, error) = try await fixture.admin.send(
                .POST,
                "/admin/v1/prices/import",
                [
                    "prices": [
                        ["model": "priced", "input_price_per_mtok": 0, "output_price_per_mtok": 0],
                        ["model": "nosuch", "input_price_per_mtok": 1, "output_price_per_mtok": 1],
                    ]
                ],
                allow: [422]
            )
            #expect(status == 422 && error["error"]?["field"] == "prices[1].model", "\(error)")

            // The good file: $0.002 a request from `change` on.
            let good = temporaryDirectory() + "/good.csv"
            try Data(
                """
                model,effective_at,input_price_per_mtok,output_price_per_mtok,request_price_usd
                priced,\(effective),0,0,0.002
                """.utf8
            ).write(to: URL(fileURLWithPath: good))
            try await PricesCommand.ImportCommand.parse(["-f", good] + connection).run()
            let (_, prices) = try await fixture.admin.send(.GET, "/admin/v1/models/priced/prices")
            #expect(prices["data"]?[0]?["request_price_usd"] == 0.002, "\(prices)")
            try await PricesCommand.ListCommand.parse(["priced"] + connection).run()

            let node = try await fixture.node(leaseReportInterval: .milliseconds(100))
            defer { Task { await node.stop() } }
            try await BudgetTests.waitForNodes(fixture, count: 1)
            var before = 0
            while Date() < change.addingTimeInterval(-3), before < 2 {
                if try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "paid")).status == 200 { before += 1 }
            }
            #expect(Date() < change.addingTimeInterval(-1), "the requests before the change took too long to tell")
            try await Task.sleep(for: .seconds(max(0, change.timeIntervalSinceNow + 0.3)))
            for _ in 0..<3 { #expect(try await callNode(fixture.http, node.url, key: key, body: chatBody(model: "paid")).status == 200) }
            let expected = Int64(before * 1_000 + 3 * 2_000)
            #expect(
                await eventually(timeout: .seconds(5)) {
                    let (_, spend) = try await fixture.admin.send(.GET, "/admin/v1/tenants/acme/spend?group_by=model")
                    return spend["data"]?[0]?["cost_micros"]?.intValue == expected
                },
                "\(before) requests before the change, 3 after"
            )
        }
    }

    @Test func pricesFilesParse() throws {
        let csv = try PricesCommand.rows(
            "# a comment\nmodel,effective_at,input_price_per_mtok,output_price_per_mtok,cached_input_price_per_mtok\nm,2027-01-01T00:00:00Z,1.5,6,\n",
            csv: true
        )
        #expect(csv == [["model": "m", "effective_at": "2027-01-01T00:00:00Z", "input_price_per_mtok": 1.5, "output_price_per_mtok": 6.0]])
        #expect(throws: ConfigFileError.self) { try PricesCommand.rows("model,input_price_per_mtok\nm,cheap\n", csv: true) }
        #expect(try PricesCommand.rows(#"{"prices": [{"model": "m"}]}"#, csv: false).count == 1)
    }
}

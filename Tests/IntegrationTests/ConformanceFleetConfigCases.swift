import Foundation
import Testing
import WardDomain
import WardStorage

// Rows of docs/protocol.md's config_report and credentials_report tables, and birth's
// config_version (see ConformanceTests.swift).

extension Conformance {
    static func configReport(version: String = "1", result: String = #""applied""#, detail: String = "",
                             reported: String = #"{"heartbeat_s":60}"#, v: String = "1", device: String = "$D",
                             boot: String = #","boot":"b1""#, ts: String = "$TS") -> String {
        #"{"v":\#(v),"device":"\#(device)"\#(boot),"ts":\#(ts),"version":\#(version),"result":\#(result)\#(detail),"reported":\#(reported)}"#
    }

    static func credentialsReport(rotation: String = #""rot-1""#, result: String = #""stored""#, reason: String = "", v: String = "1",
                                  device: String = "$D", boot: String = #","boot":"b1""#, ts: String = "$TS") -> String {
        #"{"v":\#(v),"device":"\#(device)"\#(boot),"ts":\#(ts),"rotation":\#(rotation),"result":\#(result)\#(reason)}"#
    }

    /// Waits until the device's stored configuration report answers `version` with `result`.
    static func reportStored(_ d: CaseDevice, version: Int64, _ result: ConfigResult) async throws {
        try await d.w.until("config_report \(version) \(result.rawValue) stored") { _ in
            let r = try FleetConfigRepository(d.w.h.db).get(d.id)
            return r?.lastReportVersion == version && r?.lastResult == result
        }
    }

    /// A rotation waiting for the device's answer (as the controller leaves it once sent).
    static func openRotation(_ d: CaseDevice, _ id: String) throws {
        try FleetConfigRepository(d.w.h.db).createRotation(id: id, device: d.id, sealedPassword: "x", by: "conformance", at: Date())
    }

    static func rotationState(_ d: CaseDevice, _ id: String, _ state: CredentialRotation.State) async throws {
        try await d.w.until("rotation \(id) \(state.rawValue)") { _ in try FleetConfigRepository(d.w.h.db).rotation(id)?.state == state }
    }

    static let fleetConfigCases: [ConformanceCase] = [
        // §4 birth
        ConformanceCase(table: "birth", row: "config_version", cls: .speaker) { d in
            try d.send("birth", sub(birth("speaker"), (#""heartbeat_s":30"#, #""heartbeat_s":30,"config_version":-1"#)))
            try await d.rejected("out_of_range", on: "birth")
            try d.send("birth", sub(birth("speaker"), (#""heartbeat_s":30"#, #""heartbeat_s":30,"config_version":"3""#)))
            try await d.rejected("invalid_field", on: "birth")
            let sent = try d.send("birth", sub(birth("speaker"), (#""heartbeat_s":30"#, #""heartbeat_s":30,"config_version":3"#)))
            try await d.until("birth with config_version accepted") { $0?.birth == sent }
            try await d.settled()
        },

        // §4 config_report
        ConformanceCase(table: "config_report", row: "v, device, boot, ts", cls: .speaker) { d in
            try d.send("config_report", configReport(v: "2"))
            try await d.rejected("unsupported_version", on: "config_report")
            try d.send("config_report", configReport(device: "CF-OTHER"))
            try await d.rejected("identity_mismatch", on: "config_report")
            try d.send("config_report", configReport(boot: ""))
            try await d.rejected("invalid_field", on: "config_report")
            try d.send("config_report", configReport(ts: "1000"))
            try await d.rejected("out_of_range", on: "config_report")
            try d.send("config_report", configReport(version: "1"))
            try await reportStored(d, version: 1, .applied)
            try await d.settled()
        },
        ConformanceCase(table: "config_report", row: "version", cls: .speaker) { d in
            try d.send("config_report", configReport(version: "-1"))
            try await d.rejected("out_of_range", on: "config_report")
            try d.send("config_report", configReport(version: #""2""#))
            try await d.rejected("invalid_field", on: "config_report")
            try d.send("config_report", configReport(version: "2"))
            try await reportStored(d, version: 2, .applied)
            try d.check(try FleetConfigRepository(d.w.h.db).get(d.id)?.appliedVersion == 2, "an applied report sets the applied version")
            try await d.settled()
        },
        ConformanceCase(table: "config_report", row: "result", cls: .camera) { d in
            try d.send("config_report", configReport(result: #""done""#))
            try await d.rejected("invalid_field", on: "config_report")
            try d.send("config_report", configReport(version: "4", result: #""applied""#))
            try await reportStored(d, version: 4, .applied)
            try d.send("config_report", configReport(version: "5", result: #""rejected""#, detail: #","detail":"flash""#))
            try await reportStored(d, version: 5, .rejected)
            try d.check(try FleetConfigRepository(d.w.h.db).get(d.id)?.appliedVersion == 4, "a rejected version is not applied")
            try await d.settled()
        },
        ConformanceCase(table: "config_report", row: "detail", cls: .speaker) { d in
            try d.send("config_report", configReport(result: #""rejected""#))
            try await d.rejected("invalid_field", on: "config_report")
            try d.send("config_report", configReport(result: #""rejected""#, detail: #","detail":"\#(String(repeating: "x", count: 513))""#))
            try await d.rejected("out_of_range", on: "config_report")
            try d.send("config_report", configReport(version: "7", result: #""rejected""#, detail: #","detail":"max_volume must be 0–100""#))
            try await reportStored(d, version: 7, .rejected)
            try d.check(try FleetConfigRepository(d.w.h.db).get(d.id)?.lastDetail == "max_volume must be 0–100", "detail stored")
            try await d.settled()
        },
        ConformanceCase(table: "config_report", row: "reported", cls: .speaker) { d in
            try d.send("config_report", #"{"v":1,"device":"$D","boot":"b1","ts":$TS,"version":1,"result":"applied"}"#)
            try await d.rejected("invalid_field", on: "config_report")
            for bad in [#"{"heartbeat_s":0}"#, #"{"max_volume":101}"#, #"{"retention_days":400}"#, #"{"media_base_url":"ftp://x"}"#,
                        #"{"ntp":[]}"#, #"{"ntp":["a b"]}"#] {
                try d.send("config_report", configReport(reported: bad))
                try await d.rejected("out_of_range", on: "config_report")
            }
            try d.send("config_report", configReport(reported: #"{"heartbeat_s":"60"}"#))
            try await d.rejected("invalid_field", on: "config_report")
            try d.send("config_report", configReport(version: "3", reported: #"{"heartbeat_s":60,"max_volume":80,"media_base_url":"https://m.example.vn/a","ntp":["0.vn.pool.ntp.org","10.0.0.1"]}"#))
            try await reportStored(d, version: 3, .applied)
            let r = try FleetConfigRepository(d.w.h.db).get(d.id)?.reported
            try d.check(r == DeviceSettings(heartbeatSeconds: 60, maxVolume: 80, mediaBaseURL: "https://m.example.vn/a", ntp: ["0.vn.pool.ntp.org", "10.0.0.1"]),
                        "reported values stored: \(String(describing: r))")
            try await d.settled()
        },

        // §4 credentials_report
        ConformanceCase(table: "credentials_report", row: "v, device, boot, ts", cls: .speaker) { d in
            let id = "rot-cf-\(d.id)"
            try openRotation(d, id)
            try d.send("credentials_report", credentialsReport(rotation: "\"\(id)\"", v: "2"))
            try await d.rejected("unsupported_version", on: "credentials_report")
            try d.send("credentials_report", credentialsReport(rotation: "\"\(id)\"", device: "CF-OTHER"))
            try await d.rejected("identity_mismatch", on: "credentials_report")
            try d.send("credentials_report", credentialsReport(rotation: "\"\(id)\"", boot: ""))
            try await d.rejected("invalid_field", on: "credentials_report")
            try d.send("credentials_report", credentialsReport(rotation: "\"\(id)\"", ts: "1000"))
            try await d.rejected("out_of_range", on: "credentials_report")
            try await d.settled()
            try d.check(try FleetConfigRepository(d.w.h.db).rotation(id)?.state == .created, "a refused report changes nothing")
            try d.send("credentials_report", credentialsReport(rotation: "\"\(id)\""))
            try await rotationState(d, id, .stored)
            try await d.settled()
        },
        ConformanceCase(table: "credentials_report", row: "rotation", cls: .camera) { d in
            let id = "rot-cf-\(d.id)"
            try openRotation(d, id)
            try d.send("credentials_report", credentialsReport(rotation: #""""#))
            try await d.rejected("invalid_field", on: "credentials_report")
            try d.send("credentials_report", credentialsReport(rotation: "\"\(String(repeating: "r", count: 65))\""))
            try await d.rejected("invalid_field", on: "credentials_report")
            try d.send("credentials_report", credentialsReport(rotation: #""rot-someone-else""#))  // no such rotation of this device: nothing moves
            try await d.settled()
            try d.check(try FleetConfigRepository(d.w.h.db).rotation(id)?.state == .created, "another rotation id moves nothing")
            try d.send("credentials_report", credentialsReport(rotation: "\"\(id)\""))
            try await rotationState(d, id, .stored)
            try await d.settled()
        },
        ConformanceCase(table: "credentials_report", row: "result", cls: .speaker) { d in
            let id = "rot-cf-\(d.id)"
            try openRotation(d, id)
            try d.send("credentials_report", credentialsReport(rotation: "\"\(id)\"", result: #""ok""#))
            try await d.rejected("invalid_field", on: "credentials_report")
            try d.send("credentials_report", credentialsReport(rotation: "\"\(id)\"", result: #""refused""#, reason: #","reason":"cannot_open""#))
            try await rotationState(d, id, .refused)
            // A later report of the same rotation changes nothing: it is over.
            try d.send("credentials_report", credentialsReport(rotation: "\"\(id)\""))
            try await d.settled()
            try d.check(try FleetConfigRepository(d.w.h.db).rotation(id)?.state == .refused, "a finished rotation stays as it was")
        },
        ConformanceCase(table: "credentials_report", row: "reason", cls: .speaker) { d in
            let id = "rot-cf-\(d.id)"
            try openRotation(d, id)
            try d.send("credentials_report", credentialsReport(rotation: "\"\(id)\"", result: #""refused""#))
            try await d.rejected("invalid_field", on: "credentials_report")
            try d.send("credentials_report", credentialsReport(rotation: "\"\(id)\"", result: #""refused""#,
                                                               reason: #","reason":"\#(String(repeating: "x", count: 257))""#))
            try await d.rejected("out_of_range", on: "credentials_report")
            try d.send("credentials_report", credentialsReport(rotation: "\"\(id)\"", result: #""refused""#, reason: #","reason":"cannot_open""#))
            try await rotationState(d, id, .refused)
            try d.check(try FleetConfigRepository(d.w.h.db).rotation(id)?.reason == "cannot_open", "reason stored")
            try await d.settled()
        },
    ]
}

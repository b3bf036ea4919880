import Foundation
import Testing
import WardDomain
import WardStorage

// One case per row of docs/protocol.md's tables (see ConformanceTests.swift). Each message is
// literal JSON written from the row's rule; `$D` is the case's device, `$TS` now in Unix ms.

extension Conformance {
    // MARK: §4 birth

    static let birthCases: [ConformanceCase] = [
        ConformanceCase(table: "birth", row: "v", cls: .speaker) { d in
            try d.send("birth", birth("speaker", v: "2"))
            try await d.rejected("unsupported_version", on: "birth")
            try await d.settled()
        },
        ConformanceCase(table: "birth", row: "device", cls: .speaker) { d in
            try d.send("birth", birth("speaker", device: "CF-OTHER"))
            try await d.rejected("identity_mismatch", on: "birth")
            try await d.settled()
        },
        ConformanceCase(table: "birth", row: "class", cls: .camera) { d in
            try d.send("birth", birth("toaster"))
            try await d.rejected("invalid_field", on: "birth")
            let good = try d.send("birth", birth("camera"))
            try await d.until("birth stored") { $0?.birth == good }
        },
        ConformanceCase(table: "birth", row: "model", cls: .speaker) { d in
            // ≤ 128 bytes: "Loa ẹ" is 7 bytes ("ẹ" is 3).
            let model128 = "Loa ẹ" + String(repeating: "x", count: 121)
            let good = try d.send("birth", birth("speaker", model: model128))
            try await d.until("a 128-byte model accepted") { $0?.birth == good }
            try d.send("birth", birth("speaker", model: model128 + "x"))
            try await d.rejected("out_of_range", on: "birth")
            try d.send("birth", #"{"v":1,"device":"$D","class":"speaker","model":null,"firmware":"1","capabilities":[],"heartbeat_s":30,"boot":"b1"}"#)
            try await d.rejected("invalid_field", on: "birth")
        },
        ConformanceCase(table: "birth", row: "firmware", cls: .speaker) { d in
            let fw64 = String(repeating: "1", count: 64)
            let good = try d.send("birth", birth("speaker", firmware: fw64))
            try await d.until("a 64-byte firmware accepted") { $0?.birth == good }
            try d.send("birth", birth("speaker", firmware: fw64 + "1"))
            try await d.rejected("out_of_range", on: "birth")
        },
        ConformanceCase(table: "birth", row: "capabilities", cls: .speaker) { d in
            let caps = { (n: Int) in "[" + (0..<n).map { "\"c\($0)\"" }.joined(separator: ",") + "]" }
            let good = try d.send("birth", birth("speaker", caps: caps(64)))
            try await d.until("64 capabilities accepted") { $0?.birth == good }
            try d.send("birth", birth("speaker", caps: caps(65)))
            try await d.rejected("out_of_range", on: "birth")
            try d.send("birth", birth("speaker", caps: #""ping""#))
            try await d.rejected("invalid_field", on: "birth")
        },
        ConformanceCase(table: "birth", row: "heartbeat_s", cls: .speaker) { d in
            try d.send("birth", birth("speaker", hb: "0.5"))
            try await d.rejected("out_of_range", on: "birth")
            try d.send("birth", birth("speaker", hb: "3601"))
            try await d.rejected("out_of_range", on: "birth")
            try d.send("birth", birth("speaker", hb: "3600"))
            try await d.until("heartbeat 3600 declared") { $0?.liveness.heartbeat == 3600 }
        },
        ConformanceCase(table: "birth", row: "boot", cls: .speaker) { d in
            try d.send("birth", birth("speaker", boot: #""""#))
            try await d.rejected("invalid_field", on: "birth")
            try d.send("birth", birth("speaker", boot: "\"\(String(repeating: "b", count: 65))\""))
            try await d.rejected("invalid_field", on: "birth")
            let boot64 = String(repeating: "b", count: 64)
            try d.send("birth", birth("speaker", boot: "\"\(boot64)\""))
            try await d.until("a 64-character boot accepted") { $0?.liveness.bootID == boot64 }
        },
        ConformanceCase(table: "birth", row: "ts", cls: .speaker) { d in
            // Optional and informational: absent, or any integer (the clock may not be set yet).
            let without = try d.send("birth", birth("speaker", ts: ""))
            try await d.until("birth without ts accepted") { $0?.birth == without }
            let early = try d.send("birth", birth("speaker", ts: #","ts":1000"#))
            try await d.until("birth with an unset clock accepted") { $0?.birth == early }
            try d.send("birth", birth("speaker", ts: #","ts":"now""#))
            try await d.rejected("invalid_field", on: "birth")
        },
    ]

    // MARK: §4 state

    static let stateCases: [ConformanceCase] = [
        ConformanceCase(table: "state", row: "v", cls: .speaker) { d in
            try d.send("state", #"{"v":2,"device":"$D","state":"online","boot":"b1"}"#)
            try await d.rejected("unsupported_version", on: "state")
            try await d.settled()
        },
        ConformanceCase(table: "state", row: "device", cls: .speaker) { d in
            try d.send("state", #"{"v":1,"device":"CF-OTHER","state":"online","boot":"b1"}"#)
            try await d.rejected("identity_mismatch", on: "state")
            try await d.settled()
        },
        ConformanceCase(table: "state", row: "state", cls: .speaker) { d in
            try d.send("state", #"{"v":1,"device":"$D","state":"sleeping","boot":"b1"}"#)
            try await d.rejected("invalid_field", on: "state")
            try d.send("state", #"{"v":1,"device":"$D","state":"online","boot":"b1"}"#)
            try await d.until("online") { $0?.liveness.state == .ok }
        },
        ConformanceCase(table: "state", row: "boot", cls: .speaker) { d in
            try await d.connect(boot: "b2")
            // An offline state of an older boot is ignored (counted as stale_boot, not listed).
            try d.send("state", #"{"v":1,"device":"$D","state":"offline","boot":"b1","reason":"will"}"#)
            try await d.settled()
            try d.check(d.status()?.liveness.state == .ok, "an old boot's Will took the device offline")
            try d.send("state", #"{"v":1,"device":"$D","state":"offline","boot":"b2","reason":"will"}"#)
            try await d.until("the current boot's Will counts") { $0?.liveness.state == .offline }
        },
        ConformanceCase(table: "state", row: "reason", cls: .speaker) { d in
            try await d.connect()
            try d.send("state", #"{"v":1,"device":"$D","state":"offline","boot":"b1"}"#)
            try await d.rejected("invalid_field", on: "state")
            try d.check(d.status()?.liveness.state == .ok, "an offline state without reason was applied")
            try d.send("state", #"{"v":1,"device":"$D","state":"offline","boot":"b1","reason":"later"}"#)
            try await d.rejected("invalid_field", on: "state")
            try d.send("state", #"{"v":1,"device":"$D","state":"offline","boot":"b1","reason":"shutdown","ts":$TS}"#)
            try await d.until("offline, shut down") { $0?.liveness.faults.map(\.code.rawValue) == ["shutdown"] }
        },
        ConformanceCase(table: "state", row: "ts", cls: .speaker) { d in
            try await d.connect()
            // The Last Will has no ts (fixed at connect time).
            try d.send("state", #"{"v":1,"device":"$D","state":"offline","boot":"b1","reason":"will"}"#)
            try await d.until("offline by the Will") { $0?.liveness.faults.map(\.code.rawValue) == ["last_will"] }
            try d.send("state", #"{"v":1,"device":"$D","state":"online","boot":"b1","ts":"12:00"}"#)
            try await d.rejected("invalid_field", on: "state")
        },
    ]

    // MARK: §4 telemetry

    static let telemetryCases: [ConformanceCase] = [
        ConformanceCase(table: "telemetry", row: "v", cls: .speaker) { d in
            try d.send("telemetry", tel(1, speakerOK, v: "2"))
            try await d.rejected("unsupported_version", on: "telemetry")
            try d.send("telemetry", tel(2, speakerOK, v: "\"1\""))
            try await d.rejected("invalid_field", on: "telemetry")
            try await d.settled()
        },
        ConformanceCase(table: "telemetry", row: "device", cls: .speaker) { d in
            try d.send("telemetry", tel(1, speakerOK, device: "CF-OTHER"))
            try await d.rejected("identity_mismatch", on: "telemetry")
            try await d.settled()
        },
        ConformanceCase(table: "telemetry", row: "boot", cls: .speaker) { d in
            try d.send("telemetry", #"{"v":1,"device":"$D","seq":1,"ts":$TS,"# + speakerOK + "}")
            try await d.rejected("invalid_field", on: "telemetry")
            let good = try d.send("telemetry", tel(2, speakerOK, boot: "f00d"))
            try await d.until("accepted with its boot") { $0?.lastTelemetry == good && $0?.liveness.bootID == "f00d" }
        },
        ConformanceCase(table: "telemetry", row: "seq", cls: .speaker) { d in
            try d.send("telemetry", tel(-1, speakerOK))
            try await d.rejected("out_of_range", on: "telemetry")
            let first = try d.send("telemetry", tel(0, speakerOK))
            try await d.until("seq 0 accepted") { $0?.lastTelemetry == first }
            try d.send("telemetry", tel(0, speakerOK))
            try await d.rejected("replayed_sequence", on: "telemetry")
            let next = try d.send("telemetry", tel(1, speakerOK))
            try await d.until("a greater seq accepted") { $0?.lastTelemetry == next }
        },
        ConformanceCase(table: "telemetry", row: "ts", cls: .speaker) { d in
            // The window is inclusive: 2020-01-01T00:00:00Z … controller clock + 24 h.
            try d.send("telemetry", tel(1, speakerOK, ts: "1577836799999"))
            try await d.rejected("out_of_range", on: "telemetry")
            let edge = try d.send("telemetry", tel(2, speakerOK, ts: "1577836800000"))
            try await d.until("2020-01-01 exactly accepted") { $0?.lastTelemetry == edge }
            try d.send("telemetry", tel(3, speakerOK, ts: "$TS+86460000"))  // 24 h + 1 min ahead
            try await d.rejected("out_of_range", on: "telemetry")
            let ahead = try d.send("telemetry", tel(4, speakerOK, ts: "$TS+86340000"))  // 24 h − 1 min ahead
            try await d.until("less than 24 h ahead accepted") { $0?.lastTelemetry == ahead }
        },
        ConformanceCase(table: "telemetry", row: "speaker / camera / access_point / kiosk", cls: .speaker) { d in
            try d.send("telemetry", tel(1, speakerOK + "," + cameraOK))
            try await d.rejected("invalid_field", on: "telemetry")
            try d.send("telemetry", #"{"v":1,"device":"$D","boot":"b1","seq":2,"ts":$TS}"#)
            try await d.rejected("invalid_field", on: "telemetry")
            let good = try d.send("telemetry", tel(3, speakerOK))
            try await d.until("one class object accepted") { $0?.lastTelemetry == good }
        },
    ]

    // MARK: §4 the class objects of telemetry

    static let classCases: [ConformanceCase] = [
        field("telemetry.speaker", "volume", .speaker, speakerOK, good: [sub(speakerOK, (#""volume":50"#, #""volume":100"#))],
              bad: [(sub(speakerOK, (#""volume":50"#, #""volume":101"#)), "out_of_range"),
                    (sub(speakerOK, (#""volume":50"#, #""volume":-1"#)), "out_of_range"),
                    (sub(speakerOK, (#""volume":50"#, #""volume":50.5"#)), "invalid_field")]),
        field("telemetry.speaker", "amp_ok", .speaker, speakerOK,
              bad: [(sub(speakerOK, (#""amp_ok":true"#, #""amp_ok":"yes""#)), "invalid_field")]),
        field("telemetry.speaker", "line_ok", .speaker, speakerOK,
              bad: [(sub(speakerOK, (#""line_ok":true,"#, "")), "invalid_field")]),
        field("telemetry.speaker", "playing", .speaker, speakerOK,
              bad: [(sub(speakerOK, (#""playing":false"#, #""playing":null"#)), "invalid_field")]),
        field("telemetry.speaker", "rssi", .speaker, speakerOK, good: [sub(speakerOK, (#""rssi":-70,"#, ""))],
              bad: [(sub(speakerOK, (#""rssi":-70"#, #""rssi":-151"#)), "out_of_range"),
                    (sub(speakerOK, (#""rssi":-70"#, #""rssi":1"#)), "out_of_range")]),
        field("telemetry.speaker", "power", .speaker, speakerOK, good: [sub(speakerOK, (#""power":"mains""#, #""power":"solar""#))],
              bad: [(sub(speakerOK, (#""power":"mains""#, #""power":"wind""#)), "invalid_field")]),
        field("telemetry.speaker", "battery_pct", .speaker, speakerOK, good: [sub(speakerOK, (#""battery_pct":null"#, #""battery_pct":100"#))],
              bad: [(sub(speakerOK, (#""battery_pct":null"#, #""battery_pct":101"#)), "out_of_range")]),
        field("telemetry.speaker", "battery_minutes", .speaker, speakerOK,
              good: [sub(speakerOK, (#""battery_pct":null"#, #""battery_pct":null,"battery_minutes":10080"#)),
                     sub(speakerOK, (#""battery_pct":null"#, #""battery_pct":3,"battery_minutes":0"#))],
              bad: [(sub(speakerOK, (#""battery_pct":null"#, #""battery_pct":50,"battery_minutes":10081"#)), "out_of_range"),
                    (sub(speakerOK, (#""battery_pct":null"#, #""battery_minutes":-1"#)), "out_of_range"),
                    (sub(speakerOK, (#""battery_pct":null"#, #""battery_minutes":90.5"#)), "invalid_field")]),

        field("telemetry.camera", "recording", .camera, cameraOK,
              bad: [(sub(cameraOK, (#""recording":true,"#, "")), "invalid_field")]),
        field("telemetry.camera", "stream_ok", .camera, cameraOK,
              bad: [(sub(cameraOK, (#""stream_ok":true"#, #""stream_ok":"true""#)), "invalid_field")]),
        field("telemetry.camera", "storage_used_bytes", .camera, cameraOK,
              good: [sub(cameraOK, (#""storage_used_bytes":100"#, #""storage_used_bytes":1000000000000"#))],
              bad: [(sub(cameraOK, (#""storage_used_bytes":100"#, #""storage_used_bytes":1000000000001"#)), "out_of_range"),
                    (sub(cameraOK, (#""storage_used_bytes":100"#, #""storage_used_bytes":-1"#)), "out_of_range")]),
        field("telemetry.camera", "storage_total_bytes", .camera, cameraOK,
              good: [sub(cameraOK, (#""storage_total_bytes":1000000000000"#, #""storage_total_bytes":1125899906842624"#))],
              bad: [(sub(cameraOK, (#""storage_used_bytes":100"#, #""storage_used_bytes":0"#),
                         (#""storage_total_bytes":1000000000000"#, #""storage_total_bytes":0"#)), "out_of_range"),
                    (sub(cameraOK, (#""storage_total_bytes":1000000000000"#, #""storage_total_bytes":1125899906842625"#)), "out_of_range")]),
        field("telemetry.camera", "oldest_recording_ts", .camera, cameraOK,
              good: [sub(cameraOK, (#""oldest_recording_ts":$TS-3600000,"#, "")),
                     sub(cameraOK, (#""oldest_recording_ts":$TS-3600000"#, #""oldest_recording_ts":$TS+60000"#))],
              bad: [(sub(cameraOK, (#""oldest_recording_ts":$TS-3600000"#, #""oldest_recording_ts":$TS+60001"#)), "out_of_range"),
                    (sub(cameraOK, (#""oldest_recording_ts":$TS-3600000"#, #""oldest_recording_ts":1577836799999"#)), "out_of_range")]),
        field("telemetry.camera", "write_rate_bps", .camera, cameraOK,
              good: [sub(cameraOK, (#""write_rate_bps":1000"#, #""write_rate_bps":10000000000"#))],
              bad: [(sub(cameraOK, (#""write_rate_bps":1000"#, #""write_rate_bps":-1"#)), "out_of_range"),
                    (sub(cameraOK, (#""write_rate_bps":1000"#, #""write_rate_bps":10000000001"#)), "out_of_range")]),

        field("telemetry.access_point", "uplink_ok", .accessPoint, apOK,
              bad: [(sub(apOK, (#""uplink_ok":true"#, #""uplink_ok":1"#)), "invalid_field")]),
        field("telemetry.access_point", "clients", .accessPoint, apOK, good: [sub(apOK, (#""clients":3"#, #""clients":100000"#))],
              bad: [(sub(apOK, (#""clients":3"#, #""clients":100001"#)), "out_of_range")]),
        field("telemetry.access_point", "rx_bps", .accessPoint, apOK, good: [sub(apOK, (#""rx_bps":1000"#, #""rx_bps":1000000000000"#))],
              bad: [(sub(apOK, (#""rx_bps":1000"#, #""rx_bps":1000000000001"#)), "out_of_range")]),
        field("telemetry.access_point", "tx_bps", .accessPoint, apOK,
              bad: [(sub(apOK, (#""tx_bps":1000"#, #""tx_bps":-1"#)), "out_of_range")]),
        field("telemetry.access_point", "cpu_pct", .accessPoint, apOK, good: [sub(apOK, (#""cpu_pct":10"#, #""cpu_pct":100"#))],
              bad: [(sub(apOK, (#""cpu_pct":10"#, #""cpu_pct":100.5"#)), "out_of_range")]),
        field("telemetry.access_point", "mem_pct", .accessPoint, apOK,
              bad: [(sub(apOK, (#""mem_pct":20"#, #""mem_pct":-0.1"#)), "out_of_range"),
                    (sub(apOK, (#""mem_pct":20"#, #""mem_pct":null"#)), "invalid_field")]),

        field("telemetry.kiosk", "printer_ok", .kiosk, kioskOK,
              bad: [(sub(kioskOK, (#""printer_ok":true,"#, "")), "invalid_field")]),
        field("telemetry.kiosk", "paper_low", .kiosk, kioskOK,
              bad: [(sub(kioskOK, (#""paper_low":false"#, #""paper_low":"no""#)), "invalid_field")]),
        field("telemetry.kiosk", "paper_out", .kiosk, kioskOK,
              bad: [(sub(kioskOK, (#""paper_out":false"#, #""paper_out":null"#)), "invalid_field")]),
        field("telemetry.kiosk", "tickets_issued", .kiosk, kioskOK,
              good: [sub(kioskOK, (#""tickets_issued":0"#, #""tickets_issued":10000000"#))],
              bad: [(sub(kioskOK, (#""tickets_issued":0"#, #""tickets_issued":10000001"#)), "out_of_range")]),
        field("telemetry.kiosk", "tickets_served", .kiosk, kioskOK,
              bad: [(sub(kioskOK, (#""tickets_served":0"#, #""tickets_served":-1"#)), "out_of_range")]),
        field("telemetry.kiosk", "ratings", .kiosk, kioskOK,
              good: [sub(kioskOK, (#""ratings":{}"#, #""ratings":{"very_satisfied":1,"satisfied":2,"neutral":3,"dissatisfied":4,"very_dissatisfied":5}"#))],
              bad: [(sub(kioskOK, (#""ratings":{}"#, #""ratings":{"great":1}"#)), "invalid_field"),
                    (sub(kioskOK, (#""ratings":{}"#, #""ratings":{"satisfied":10000001}"#)), "out_of_range")]),
    ]

    // MARK: §4 event

    static let eventCases: [ConformanceCase] = [
        ConformanceCase(table: "event", row: "v, device, boot, seq, ts", cls: .kiosk) { d in
            try d.send("event", #"{"v":2,"device":"$D","boot":"b1","seq":1,"ts":$TS,"event":"ticket_issued"}"#)
            try await d.rejected("unsupported_version", on: "event")
            try d.send("event", #"{"v":1,"device":"CF-OTHER","boot":"b1","seq":1,"ts":$TS,"event":"ticket_issued"}"#)
            try await d.rejected("identity_mismatch", on: "event")
            try d.send("event", #"{"v":1,"device":"$D","seq":1,"ts":$TS,"event":"ticket_issued"}"#)
            try await d.rejected("invalid_field", on: "event")
            try d.send("event", event(1, #""event":"ticket_issued""#, ts: "1000"))
            try await d.rejected("out_of_range", on: "event")
            try d.send("event", event(1, #""event":"ticket_issued""#))
            try d.send("event", event(1, #""event":"ticket_issued""#))  // a QoS 1 redelivery repeats the seq: dropped, not bad input
            try await d.settled()
            try d.check(try HealthQueries(d.w.h.db).eventCount(device: d.id, type: "ticket_issued") == 1, "the event was not stored once")
        },
        ConformanceCase(table: "event", row: "event", cls: .kiosk) { d in
            try d.send("event", event(1, #""event":"""#))
            try await d.rejected("invalid_field", on: "event")
            try d.send("event", event(2, #""event":7"#))
            try await d.rejected("invalid_field", on: "event")
            // A type this controller does not know is not bad input (counted as ignored: see its row).
            try d.send("event", event(3, #""event":"door_opened""#))
            try await d.settled()
            try d.check(try HealthQueries(d.w.h.db).eventCount(device: d.id, type: "door_opened") == 0, "an unknown event was stored")
        },
        ConformanceCase(table: "event", row: "ticket", cls: .kiosk) { d in
            try d.send("event", event(1, #""event":"ticket_issued","ticket":"\#(String(repeating: "A", count: 33))""#))
            try await d.rejected("out_of_range", on: "event")
            try d.send("event", event(2, #""event":"ticket_issued","ticket":"\#(String(repeating: "A", count: 32))""#))
            try await d.settled()
            try d.check(try HealthQueries(d.w.h.db).eventCount(device: d.id, type: "ticket_issued") == 1, "a 32-byte ticket was not stored")
        },
        ConformanceCase(table: "event", row: "wait_s", cls: .kiosk) { d in
            try d.send("event", event(1, #""event":"ticket_served","ticket":"A001""#))
            try await d.rejected("invalid_field", on: "event")
            try d.send("event", event(2, #""event":"ticket_served","wait_s":86401"#))
            try await d.rejected("out_of_range", on: "event")
            try d.send("event", event(3, #""event":"ticket_served","wait_s":86400"#))
            try await d.settled()
            try d.check(try HealthQueries(d.w.h.db).eventCount(device: d.id, type: "ticket_served") == 1, "wait_s 86400 refused")
        },
        ConformanceCase(table: "event", row: "rating", cls: .kiosk) { d in
            try d.send("event", event(1, #""event":"rating_submitted""#))
            try await d.rejected("invalid_field", on: "event")
            try d.send("event", event(2, #""event":"rating_submitted","rating":"great""#))
            try await d.rejected("invalid_field", on: "event")
            try d.send("event", event(3, #""event":"rating_submitted","rating":"very_dissatisfied""#))
            try await d.settled()
            try d.check(try HealthQueries(d.w.h.db).eventCount(device: d.id, type: "rating_submitted") == 1, "a rating was refused")
        },
        ConformanceCase(table: "event", row: "detail", cls: .camera) { d in
            try d.send("event", event(1, #""event":"tamper","detail":"\#(String(repeating: "ẹ", count: 341) + "xx")""#))  // 1025 bytes
            try await d.rejected("out_of_range", on: "event")
            try d.send("event", event(2, #""event":"tamper","detail":"\#(String(repeating: "ẹ", count: 341) + "x")""#))  // 1024 bytes
            try await d.settled()
            try d.check(try HealthQueries(d.w.h.db).eventCount(device: d.id, type: "tamper") == 1, "a 1024-byte detail was refused")
        },

        ConformanceCase(table: "event / event", row: "ticket_issued", cls: .kiosk) { d in
            try d.send("event", event(1, #""event":"ticket_issued","ticket":"A012""#))
            try await d.settled()
            try d.check(try HealthQueries(d.w.h.db).eventCount(device: d.id, type: "ticket_issued") == 1, "not stored")
        },
        ConformanceCase(table: "event / event", row: "ticket_served", cls: .kiosk) { d in
            try d.send("event", event(1, #""event":"ticket_served","ticket":"A012","wait_s":412"#))
            try await d.settled()
            let day = LocalCalendar.vietnam.day(containing: Date())
            let served = try HealthQueries(d.w.h.db).kioskActivity(devices: [d.id], in: day)[d.id] ?? []
            try d.check(served.contains { if case .ticketServed(_, 412) = $0 { true } else { false } }, "not stored with its wait: \(served)")
        },
        ConformanceCase(table: "event / event", row: "rating_submitted", cls: .kiosk) { d in
            try d.send("event", event(1, #""event":"rating_submitted","rating":"satisfied""#))
            try await d.settled()
            let day = LocalCalendar.vietnam.day(containing: Date())
            let got = try HealthQueries(d.w.h.db).kioskActivity(devices: [d.id], in: day)[d.id] ?? []
            try d.check(got.contains { if case .rating(_, .satisfied) = $0 { true } else { false } }, "not stored: \(got)")
        },
        ConformanceCase(table: "event / event", row: "storage_full", cls: .camera) { d in
            try await d.connect()
            try d.send("event", event(1, #""event":"storage_full","detail":"Ổ đầy, đang ghi đè""#))
            try await eventAlarm(d, kind: "storage_full", severity: "major", detail: "Ổ đầy, đang ghi đè")
        },
        ConformanceCase(table: "event / event", row: "tamper", cls: .camera) { d in
            try await d.connect()
            try d.send("event", event(1, #""event":"tamper","detail":"Camera bị che""#))
            try await eventAlarm(d, kind: "tamper", severity: "major", detail: "Camera bị che")
        },
    ]

    /// The event's alarm is raised (alarms are evaluated every 5 s) and the device page lists it.
    static func eventAlarm(_ d: CaseDevice, kind: String, severity: String, detail: String) async throws {
        let deadline = ContinuousClock.now + .seconds(45)
        var alarm: Alarm?
        while alarm == nil, ContinuousClock.now < deadline {
            alarm = try AlarmRepository(d.w.h.db).list().first { $0.deviceID == d.id && $0.kind.rawValue == kind }
            if alarm == nil { try await Task.sleep(for: .milliseconds(200)) }
        }
        let a = try #require(alarm, "no \(kind) alarm for \(d.id)")
        try d.check(a.severity.rawValue == severity && a.detail == detail, "alarm \(a.kind.rawValue) \(a.severity.rawValue) '\(a.detail)'")
        let (status, json, err) = try await d.w.cli(["devices", "show", d.id, "--json"], tag: "\(d.id)-show")
        try d.check(status == 0, "devices show failed: \(err)")
        let page = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let incidents = page?["incidents"] as? [[String: Any]] ?? []
        try d.check(incidents.contains { $0["type"] as? String == kind && $0["detail"] as? String == detail },
                    "the device page does not list the event: \(incidents)")
        let (_, text, _) = try await d.w.cli(["devices", "show", d.id], tag: "\(d.id)-show-text")
        try d.check(text.contains(detail), "devices show does not print the event")
    }

    // MARK: §4 cmd and its commands (what the CLI sends, as a device receives it)

    static let commandCases: [ConformanceCase] = [
        ConformanceCase(table: "cmd", row: "v", cls: .speaker) { d in
            try await d.connect()
            let cli = d.startCommand(["ping"])
            let cmd = try await d.command()
            try d.check(cmd["v"] as? Int == 1, "v = \(cmd["v"] ?? "none")")
            try d.ack(cmd["cmd_id"] as? String ?? "")
            try d.check(try await cli.value.0 == 0, "the CLI did not report the ack")
        },
        ConformanceCase(table: "cmd", row: "cmd_id", cls: .speaker) { d in
            try await d.connect()
            let cli = d.startCommand(["ping"])
            let cmd = try await d.command()
            let id = cmd["cmd_id"] as? String ?? ""
            try d.check((1...64).contains(id.count), "cmd_id '\(id)'")
            try d.ack("not-\(id)", detail: "nhầm lệnh")  // another command's answer is not this one's
            try d.ack(id, detail: "đúng lệnh")
            let (status, out, _) = try await cli.value
            try d.check(status == 0 && out.contains("đúng lệnh") && !out.contains("nhầm lệnh"), "CLI: \(out)")
        },
        ConformanceCase(table: "cmd", row: "command", cls: .speaker) { d in
            try await d.connect()
            let cli = d.startCommand(["ping"])
            let cmd = try await d.command()
            try d.check(cmd["command"] as? String == "ping", "command = \(cmd["command"] ?? "none")")
            try d.ack(cmd["cmd_id"] as? String ?? "", detail: "pong")
            _ = try await cli.value
            let (status, _, err) = try await d.w.cli(["devices", "command", d.id, "dance", "--broker", d.w.h.brokerAddress], tag: "\(d.id)-x")
            try d.check(status != 0 && err.contains("ping"), "an unknown command was not refused: \(err)")
        },
        ConformanceCase(table: "cmd", row: "volume", cls: .speaker, maxVolume: 80) { d in
            try await d.connect(capabilities: ["set_volume", "ping"])
            // Above the device's configured maximum: refused before sending.
            let (refused, _, err) = try await d.w.cli(["devices", "command", d.id, "set_volume", "--volume", "81", "--broker", d.w.h.brokerAddress],
                                                      tag: "\(d.id)-81")
            try d.check(refused != 0 && err.contains("80"), "volume 81 not refused: \(err)")
            let cli = d.startCommand(["set_volume", "--volume", "80"])
            let cmd = try await d.command()
            try d.check(cmd["command"] as? String == "set_volume" && cmd["volume"] as? Int == 80, "\(cmd)")
            try d.ack(cmd["cmd_id"] as? String ?? "", detail: "volume 80")
            try d.check(try await cli.value.0 == 0, "not acknowledged")
        },
        ConformanceCase(table: "cmd", row: "seconds", cls: .speaker) { d in
            try await d.connect(capabilities: ["test_tone"])
            let (refused, _, err) = try await d.w.cli(["devices", "command", d.id, "test_tone", "--seconds", "61", "--broker", d.w.h.brokerAddress],
                                                      tag: "\(d.id)-61")
            try d.check(refused != 0 && err.contains("60"), "61 s not refused: \(err)")
            let cli = d.startCommand(["test_tone", "--seconds", "5"])
            let cmd = try await d.command()
            try d.check(cmd["command"] as? String == "test_tone" && (cmd["seconds"] as? NSNumber)?.doubleValue == 5, "\(cmd)")
            try d.ack(cmd["cmd_id"] as? String ?? "", detail: "tone 5 s")
            _ = try await cli.value
        },
        ConformanceCase(table: "cmd", row: "tone_seconds", cls: .speaker) { d in
            try await d.connect(capabilities: ["self_test"])
            let (refused, _, err) = try await d.w.cli(["devices", "command", d.id, "self_test", "--tone-seconds", "6", "--broker", d.w.h.brokerAddress],
                                                      tag: "\(d.id)-6")
            try d.check(refused != 0 && err.contains("1…5"), "a 6 s tone not refused: \(err)")
            let cli = d.startCommand(["self_test", "--tone-seconds", "3"])
            let cmd = try await d.command()
            try d.check(cmd["command"] as? String == "self_test" && (cmd["tone_seconds"] as? NSNumber)?.doubleValue == 3, "\(cmd)")
            try d.send("ack", #"{"v":1,"device":"$D","boot":"b1","cmd_id":"\#(cmd["cmd_id"] as? String ?? "")","result":"ok","detail":"tone 3 s","amp_ok":true,"line_ok":true,"power":"mains","ts":$TS}"#)
            try d.check(try await cli.value.0 == 0, "not acknowledged")
            // Without the option: no tone asked.
            let quiet = d.startCommand(["self_test"], tag: "-quiet")
            let second = try await d.command(2)
            try d.check(second["tone_seconds"] == nil, "a tone asked for unasked: \(second)")
            try d.send("ack", #"{"v":1,"device":"$D","boot":"b1","cmd_id":"\#(second["cmd_id"] as? String ?? "")","result":"ok","amp_ok":true,"line_ok":true,"power":"mains","ts":$TS}"#)
            _ = try await quiet.value
        },
        ConformanceCase(table: "cmd", row: "ts", cls: .speaker) { d in
            try await d.connect()
            let before = CaseDevice.nowMs()
            let cli = d.startCommand(["ping"])
            let cmd = try await d.command()
            let after = CaseDevice.nowMs()
            let ts = (cmd["ts"] as? NSNumber)?.int64Value ?? 0
            try d.check(before <= ts && ts <= after, "ts \(ts) is not the controller's time of sending (\(before)…\(after))")
            try d.ack(cmd["cmd_id"] as? String ?? "")
            _ = try await cli.value
        },
        ConformanceCase(table: "cmd", row: "expires", cls: .speaker) { d in
            try await d.connect()
            let cli = d.startCommand(["ping"])
            let cmd = try await d.command()
            let ts = (cmd["ts"] as? NSNumber)?.int64Value ?? 0, expires = (cmd["expires"] as? NSNumber)?.int64Value ?? 0
            try d.check(expires > ts, "expires \(expires) not after ts \(ts)")
            try d.ack(cmd["cmd_id"] as? String ?? "", result: "expired", detail: "")
            let (status, out, _) = try await cli.value
            try d.check(status != 0 && out.contains("expired"), "an expired ack reported as \(out)")
        },

        ConformanceCase(table: "cmd / command", row: "ping", cls: .camera) { d in
            try await d.connect(capabilities: ["ping"])
            let cli = d.startCommand(["ping"])
            let cmd = try await d.command()
            try d.ack(cmd["cmd_id"] as? String ?? "", detail: "pong")
            let (status, out, _) = try await cli.value
            try d.check(status == 0 && out.contains("ok") && out.contains("pong"), "CLI: \(out)")
        },
        ConformanceCase(table: "cmd / command", row: "set_volume", cls: .camera) { d in
            // For speakers only: a camera is refused before anything is sent, whatever it declares.
            try await d.connect(capabilities: ["set_volume", "ping"])
            let (refused, _, err) = try await d.w.cli(["devices", "command", d.id, "set_volume", "--volume", "40", "--broker", d.w.h.brokerAddress],
                                                      tag: "\(d.id)-vol")
            try d.check(refused != 0 && err.contains("set_volume") && err.contains("not sent"), "not refused: \(err)")
            let cli = d.startCommand(["ping"])
            let first = try await d.command()
            try d.check(first["command"] as? String == "ping", "set_volume reached the camera")
            try d.ack(first["cmd_id"] as? String ?? "")
            _ = try await cli.value
        },
        ConformanceCase(table: "cmd / command", row: "test_tone", cls: .speaker) { d in
            // Not in this speaker's capabilities: refused before sending (issue 13, 3i).
            try await d.connect(capabilities: ["set_volume", "ping"])
            let (refused, _, err) = try await d.w.cli(["devices", "command", d.id, "test_tone", "--seconds", "3", "--broker", d.w.h.brokerAddress],
                                                      tag: "\(d.id)-tone")
            try d.check(refused != 0 && err.contains("test_tone") && err.contains("set_volume, ping"), "not refused: \(err)")
            let cli = d.startCommand(["ping"])
            let first = try await d.command()
            try d.check(first["command"] as? String == "ping", "test_tone reached the speaker")
            try d.ack(first["cmd_id"] as? String ?? "")
            _ = try await cli.value
        },
        ConformanceCase(table: "cmd / command", row: "self_test", cls: .speaker) { d in
            // Only to a speaker that lists it: this one does not, so nothing is sent.
            try await d.connect(capabilities: ["ping"])
            let (refused, _, err) = try await d.w.cli(["devices", "command", d.id, "self_test", "--broker", d.w.h.brokerAddress], tag: "\(d.id)-st")
            try d.check(refused != 0 && err.contains("self_test") && err.contains("not sent"), "not refused: \(err)")
            try await d.connect(capabilities: ["ping", "self_test"])
            let cli = d.startCommand(["self_test"])
            let cmd = try await d.command()
            try d.check(cmd["command"] as? String == "self_test", "\(cmd)")
            // A fault found: result error, the findings said by the CLI.
            try d.send("ack", #"{"v":1,"device":"$D","boot":"b1","cmd_id":"\#(cmd["cmd_id"] as? String ?? "")","result":"error","detail":"lỗi amply","amp_ok":false,"line_ok":true,"power":"battery","battery_pct":35,"battery_minutes":210,"ts":$TS}"#)
            let (status, out, _) = try await cli.value
            try d.check(status == 2 && out.contains("hỏng / fault") && out.contains("chạy pin") && out.contains("35%, ~3.5 h"), "CLI: \(out)")
        },
        ConformanceCase(table: "cmd / command", row: "reboot", cls: .accessPoint) { d in
            // No birth heard yet: nothing is sent, capabilities unknown.
            let (refused, _, err) = try await d.w.cli(["devices", "command", d.id, "reboot", "--broker", d.w.h.brokerAddress], tag: "\(d.id)-early")
            try d.check(refused != 0 && err.contains("capabilities"), "not refused: \(err)")
            try await d.connect(capabilities: ["reboot", "ping"])
            let cli = d.startCommand(["reboot"])
            let cmd = try await d.command()
            try d.check(cmd["command"] as? String == "reboot", "\(cmd)")
            try d.ack(cmd["cmd_id"] as? String ?? "", detail: "rebooting")
            try d.send("state", #"{"v":1,"device":"$D","state":"offline","boot":"b1","reason":"shutdown","ts":$TS}"#)
            try d.check(try await cli.value.0 == 0, "not acknowledged")
            try await d.until("shut down for the reboot") { $0?.liveness.faults.map(\.code.rawValue) == ["shutdown"] }
            try await d.connect(capabilities: ["reboot", "ping"], boot: "b2")
            try await d.w.until("the new boot recorded as a reboot") { _ in try !HealthQueries(d.w.h.db).reboots(device: d.id).isEmpty }
        },
    ]

    // MARK: §4 ack

    static let ackCases: [ConformanceCase] = [
        ConformanceCase(table: "ack", row: "v, device, boot, ts", cls: .speaker) { d in
            // Issue 13 (3b): acknowledgements the controller refuses are no result.
            try await d.connect()
            let cli = d.startCommand(["ping"])
            let id = try await d.command()["cmd_id"] as? String ?? ""
            try d.send("ack", #"{"v":2,"device":"$D","boot":"b1","cmd_id":"\#(id)","result":"ok","detail":"v2","ts":$TS}"#)
            try await d.rejected("unsupported_version", on: "ack")
            try d.send("ack", #"{"v":1,"device":"CF-OTHER","boot":"b1","cmd_id":"\#(id)","result":"ok","detail":"device mismatch","ts":$TS}"#)
            try await d.rejected("identity_mismatch", on: "ack")
            try d.send("ack", #"{"v":1,"device":"$D","cmd_id":"\#(id)","result":"ok","detail":"no boot","ts":$TS}"#)
            try await d.rejected("invalid_field", on: "ack")
            try d.send("ack", #"{"v":1,"device":"$D","boot":"b1","cmd_id":"\#(id)","result":"ok","detail":"old clock","ts":1000}"#)
            try await d.rejected("out_of_range", on: "ack")
            try d.ack(id, result: "error", detail: "thật")
            let (status, out, _) = try await cli.value
            try d.check(status == 2 && out.contains("error — thật") && !out.contains("mismatch") && !out.contains("v2"), "CLI reported: \(out)")
        },
        ConformanceCase(table: "ack", row: "cmd_id", cls: .speaker) { d in
            try d.send("ack", #"{"v":1,"device":"$D","boot":"b1","cmd_id":"","result":"ok","ts":$TS}"#)
            try await d.rejected("invalid_field", on: "ack")
            try d.send("ack", #"{"v":1,"device":"$D","boot":"b1","cmd_id":"\#(String(repeating: "c", count: 65))","result":"ok","ts":$TS}"#)
            try await d.rejected("invalid_field", on: "ack")
            try d.send("ack", #"{"v":1,"device":"$D","boot":"b1","cmd_id":"cf-ack-\#(d.id)","result":"ok","ts":$TS}"#)
            try await d.settled()
            try d.check(try HealthQueries(d.w.h.db).acks(command: "cf-ack-\(d.id)").map(\.deviceID) == [d.id], "the ack was not stored")
        },
        ConformanceCase(table: "ack", row: "result", cls: .speaker) { d in
            try d.send("ack", #"{"v":1,"device":"$D","boot":"b1","cmd_id":"c1","result":"done","ts":$TS}"#)
            try await d.rejected("invalid_field", on: "ack")
            for r in ["ok", "error", "unsupported", "expired"] {
                try d.send("ack", #"{"v":1,"device":"$D","boot":"b1","cmd_id":"cf-\#(r)-\#(d.id)","result":"\#(r)","ts":$TS}"#)
            }
            try await d.settled()
            for r in ["ok", "error", "unsupported", "expired"] {
                try d.check(try HealthQueries(d.w.h.db).acks(command: "cf-\(r)-\(d.id)").first?.result == r, "\(r) not stored")
            }
        },
        ConformanceCase(table: "ack", row: "detail", cls: .speaker) { d in
            try d.send("ack", #"{"v":1,"device":"$D","boot":"b1","cmd_id":"c1","result":"ok","detail":"\#(String(repeating: "d", count: 1025))","ts":$TS}"#)
            try await d.rejected("out_of_range", on: "ack")
            try d.send("ack", #"{"v":1,"device":"$D","boot":"b1","cmd_id":"cf-d-\#(d.id)","result":"ok","detail":"\#(String(repeating: "d", count: 1024))","ts":$TS}"#)
            try await d.settled()
            try d.check(try HealthQueries(d.w.h.db).acks(command: "cf-d-\(d.id)").count == 1, "a 1024-byte detail was refused")
        },
        ConformanceCase(table: "ack", row: "amp_ok", cls: .speaker) { d in
            try d.send("ack", #"{"v":1,"device":"$D","boot":"b1","cmd_id":"c1","result":"ok","amp_ok":"yes","line_ok":true,"power":"mains","ts":$TS}"#)
            try await d.rejected("invalid_field", on: "ack")
            // The findings come together.
            try d.send("ack", #"{"v":1,"device":"$D","boot":"b1","cmd_id":"c1","result":"ok","amp_ok":true,"ts":$TS}"#)
            try await d.rejected("invalid_field", on: "ack")
            try d.send("ack", #"{"v":1,"device":"$D","boot":"b1","cmd_id":"cf-amp-\#(d.id)","result":"error","amp_ok":false,"line_ok":true,"power":"mains","ts":$TS}"#)
            try await d.settled()
            let f = SelfTestFindings.stored(try HealthQueries(d.w.h.db).acks(command: "cf-amp-\(d.id)").first?.report)
            try d.check(f == SelfTestFindings(amplifierOK: false, speakerLineOK: true, power: .mains), "stored: \(String(describing: f))")
        },
        ConformanceCase(table: "ack", row: "line_ok", cls: .speaker) { d in
            try d.send("ack", #"{"v":1,"device":"$D","boot":"b1","cmd_id":"c1","result":"ok","amp_ok":true,"line_ok":null,"power":"mains","ts":$TS}"#)
            try await d.rejected("invalid_field", on: "ack")
            try d.send("ack", #"{"v":1,"device":"$D","boot":"b1","cmd_id":"cf-line-\#(d.id)","result":"error","amp_ok":true,"line_ok":false,"power":"solar","ts":$TS}"#)
            try await d.settled()
            let f = SelfTestFindings.stored(try HealthQueries(d.w.h.db).acks(command: "cf-line-\(d.id)").first?.report)
            try d.check(f?.speakerLineOK == false && f?.power == .solar, "stored: \(String(describing: f))")
        },
        ConformanceCase(table: "ack", row: "power", cls: .speaker) { d in
            try d.send("ack", #"{"v":1,"device":"$D","boot":"b1","cmd_id":"c1","result":"ok","amp_ok":true,"line_ok":true,"power":"wind","ts":$TS}"#)
            try await d.rejected("invalid_field", on: "ack")
            // Without findings (any other command): stored without a report.
            try d.send("ack", #"{"v":1,"device":"$D","boot":"b1","cmd_id":"cf-plain-\#(d.id)","result":"ok","ts":$TS}"#)
            try d.send("ack", #"{"v":1,"device":"$D","boot":"b1","cmd_id":"cf-pw-\#(d.id)","result":"ok","amp_ok":true,"line_ok":true,"power":"battery","ts":$TS}"#)
            try await d.settled()
            try d.check(try HealthQueries(d.w.h.db).acks(command: "cf-plain-\(d.id)").first.map { $0.report == nil } == true, "a plain ack got a report")
            try d.check(SelfTestFindings.stored(try HealthQueries(d.w.h.db).acks(command: "cf-pw-\(d.id)").first?.report)?.power == .battery, "power not stored")
        },
        ConformanceCase(table: "ack", row: "battery_pct", cls: .speaker) { d in
            try d.send("ack", #"{"v":1,"device":"$D","boot":"b1","cmd_id":"c1","result":"ok","amp_ok":true,"line_ok":true,"power":"battery","battery_pct":101,"ts":$TS}"#)
            try await d.rejected("out_of_range", on: "ack")
            try d.send("ack", #"{"v":1,"device":"$D","boot":"b1","cmd_id":"cf-pct-\#(d.id)","result":"ok","amp_ok":true,"line_ok":true,"power":"battery","battery_pct":0,"ts":$TS}"#)
            try await d.settled()
            try d.check(SelfTestFindings.stored(try HealthQueries(d.w.h.db).acks(command: "cf-pct-\(d.id)").first?.report)?.batteryPercent == 0, "0 % not stored")
        },
        ConformanceCase(table: "ack", row: "battery_minutes", cls: .speaker) { d in
            try d.send("ack", #"{"v":1,"device":"$D","boot":"b1","cmd_id":"c1","result":"ok","amp_ok":true,"line_ok":true,"power":"battery","battery_minutes":10081,"ts":$TS}"#)
            try await d.rejected("out_of_range", on: "ack")
            try d.send("ack", #"{"v":1,"device":"$D","boot":"b1","cmd_id":"c2","result":"ok","amp_ok":true,"line_ok":true,"power":"battery","battery_minutes":1.5,"ts":$TS}"#)
            try await d.rejected("invalid_field", on: "ack")
            try d.send("ack", #"{"v":1,"device":"$D","boot":"b1","cmd_id":"cf-min-\#(d.id)","result":"ok","amp_ok":true,"line_ok":true,"power":"battery","battery_minutes":10080,"ts":$TS}"#)
            try await d.settled()
            try d.check(SelfTestFindings.stored(try HealthQueries(d.w.h.db).acks(command: "cf-min-\(d.id)").first?.report)?.batteryMinutes == 10080,
                        "10080 min not stored")
        },
    ]

    // MARK: §4 playback

    static let playbackCases: [ConformanceCase] = [
        ConformanceCase(table: "playback", row: "v, device, boot", cls: .speaker) { d in
            try d.send("playback", play(#""play":"CF-ITEM@1796079600000","event":"received""#, v: "2"))
            try await d.rejected("unsupported_version", on: "playback")
            try d.send("playback", #"{"v":1,"device":"$D","ts":$TS,"play":"CF-ITEM@1796079600000","event":"received"}"#)
            try await d.rejected("invalid_field", on: "playback")
            try await d.settled()
        },
        ConformanceCase(table: "playback", row: "ts", cls: .speaker) { d in
            try d.send("playback", play(#""play":"CF-ITEM@1796079600000","event":"received""#, ts: "1000"))
            try await d.rejected("out_of_range", on: "playback")
            try await d.settled()
        },
        ConformanceCase(table: "playback", row: "play", cls: .speaker) { d in
            try d.send("playback", play(#""play":"no-start","event":"received""#))
            try await d.rejected("invalid_field", on: "playback")
            let item = "CF-PLAY-\(d.id)"
            try d.sent(play: "\(item)@1796079600000")
            try d.send("playback", play(#""play":"\#(item)@1796079600000","event":"received""#))
            try await d.settled()
            try d.check(try PlaybackRepository(d.w.h.db).entries(item: item).filter { $0.event != .scheduled }.map(\.speaker) == [d.id], "the report was not logged")
        },
        ConformanceCase(table: "playback", row: "event", cls: .speaker) { d in
            try d.send("playback", play(#""play":"CF-ITEM@1796079600000","event":"scheduled""#))
            try await d.rejected("invalid_field", on: "playback")
            try d.send("playback", play(#""play":"CF-ITEM@1796079600000","event":"paused""#))
            try await d.rejected("invalid_field", on: "playback")
            try await d.settled()
        },
        ConformanceCase(table: "playback", row: "reason", cls: .speaker) { d in
            try d.send("playback", play(#""play":"CF-ITEM@1796079600000","event":"interrupted""#))
            try await d.rejected("invalid_field", on: "playback")
            try d.send("playback", play(#""play":"CF-ITEM@1796079600000","event":"missed","reason":"bored""#))
            try await d.rejected("invalid_field", on: "playback")
            let item = "CF-R-\(d.id)"
            try d.sent(play: "\(item)@1796079600000")
            try d.send("playback", play(#""play":"\#(item)@1796079600000","event":"missed","reason":"late""#))
            try await d.settled()
            try d.check(try PlaybackRepository(d.w.h.db).entries(item: item).filter { $0.event != .scheduled }.count == 1,
                        "a missed report with its reason was refused")
        },
        ConformanceCase(table: "playback", row: "by", cls: .speaker) { d in
            try d.send("playback", play(#""play":"CF-ITEM@1796079600000","event":"interrupted","reason":"preempted","by":"someone""#))
            try await d.rejected("invalid_field", on: "playback")
            try await d.settled()
        },
        ConformanceCase(table: "playback", row: "detail", cls: .speaker) { d in
            try d.send("playback", play(#""play":"CF-ITEM@1796079600000","event":"download_failed","detail":"\#(String(repeating: "x", count: 513))""#))
            try await d.rejected("out_of_range", on: "playback")
            try await d.settled()
        },
        ConformanceCase(table: "playback", row: "more", cls: .speaker) { d in
            let one = #"{"v":1,"device":"$D","boot":"b1","ts":$TS,"play":"CF-M@1796079600000","event":"media_ready"}"#
            try d.send("playback", play(#""play":"CF-M@1796079600000","event":"received","more":[\#(Array(repeating: one, count: 9).joined(separator: ","))]"#))
            try await d.rejected("out_of_range", on: "playback")
            let item = "CF-MORE-\(d.id)"
            try d.sent(play: "\(item)@1796079600000")
            let started = #"{"v":1,"device":"$D","boot":"b1","ts":$TS,"play":"\#(item)@1796079600000","event":"started"}"#
            let ready = #"{"v":1,"device":"$D","boot":"b1","ts":$TS,"play":"\#(item)@1796079600000","event":"media_ready"}"#
            try d.send("playback", play(#""play":"\#(item)@1796079600000","event":"received","more":[\#(ready),\#(started)]"#))
            try await d.settled()
            try d.check(try PlaybackRepository(d.w.h.db).entries(item: item).filter { $0.event != .scheduled }.count == 3,
                        "the reports in more were not logged")
        },
    ]

    // MARK: §5 faults

    static let faultCases: [ConformanceCase] = [
        fault("amplifier_fault", .speaker, sub(speakerOK, (#""amp_ok":true"#, #""amp_ok":false"#))),
        fault("speaker_line_fault", .speaker, sub(speakerOK, (#""line_ok":true"#, #""line_ok":false"#))),
        ConformanceCase(table: "Faults a device can cause / Fault", row: "on_battery", cls: .speaker) { d in
            // Mains cut: degraded, the fault's detail with the charge and the estimated hours.
            try d.send("telemetry", tel(1, sub(speakerOK, (#""power":"mains""#, #""power":"battery""#),
                                            (#""battery_pct":null"#, #""battery_pct":45,"battery_minutes":270"#))))
            try await d.until("degraded by on_battery") {
                $0?.liveness.state == .degraded && $0?.liveness.faults.map(\.code.rawValue) == ["on_battery"]
                    && $0?.liveness.faults.first?.detail == "45%, ~4.5 h"
            }
            // Solar is the cluster's own supply: not a fault.
            try d.send("telemetry", tel(2, sub(speakerOK, (#""power":"mains""#, #""power":"solar""#), (#""battery_pct":null"#, #""battery_pct":80"#))))
            try await d.until("on solar: ok") { $0?.liveness.state == .ok }
            try d.send("telemetry", tel(3, sub(speakerOK, (#""power":"mains""#, #""power":"battery""#))))
            try await d.until("on battery again, without figures") { $0?.liveness.faults.map(\.code.rawValue) == ["on_battery"] }
            try d.send("telemetry", tel(4, speakerOK))
            try await d.until("back on mains: ok") { $0?.liveness.state == .ok }
        },
        fault("not_recording", .camera, sub(cameraOK, (#""recording":true"#, #""recording":false"#))),
        fault("stream_down", .camera, sub(cameraOK, (#""stream_ok":true"#, #""stream_ok":false"#))),
        ConformanceCase(table: "Faults a device can cause / Fault", row: "retention_below_required", cls: .camera) { d in
            // 1 TB at 1 MB/s holds 11.6 days: below the default 30 days required.
            try d.send("telemetry", tel(1, sub(cameraOK, (#""write_rate_bps":1000"#, #""write_rate_bps":1000000"#))))
            try await d.until("degraded by retention") { $0?.liveness.faults.map(\.code.rawValue) == ["retention_below_required"] }
            // Issue 13 (3f): idle (rate 0) before the disk loops: unlimited capacity, not flagged.
            try d.send("telemetry", tel(2, sub(cameraOK, (#""write_rate_bps":1000"#, #""write_rate_bps":0"#))))
            try await d.until("an idle camera is ok") { $0?.liveness.state == .ok }
        },
        ConformanceCase(table: "Faults a device can cause / Fault", row: "disk_nearly_full", cls: .camera) { d in
            // Exactly 90 % used; the oldest footage 40 days old, so the retention kept is enough.
            let full = sub(cameraOK, (#""storage_used_bytes":100"#, #""storage_used_bytes":900000000000"#),
                           (#""oldest_recording_ts":$TS-3600000"#, #""oldest_recording_ts":$TS-3456000000"#))
            try d.send("telemetry", tel(1, full))
            try await d.until("degraded by the disk") { $0?.liveness.faults.map(\.code.rawValue) == ["disk_nearly_full"] }
            try d.send("telemetry", tel(2, sub(cameraOK, (#""storage_used_bytes":100"#, #""storage_used_bytes":899999999999"#))))
            try await d.until("below 90 %: ok") { $0?.liveness.state == .ok }
        },
        fault("uplink_down", .accessPoint, sub(apOK, (#""uplink_ok":true"#, #""uplink_ok":false"#))),
        fault("printer_fault", .kiosk, sub(kioskOK, (#""printer_ok":true"#, #""printer_ok":false"#))),
        fault("paper_out", .kiosk, sub(kioskOK, (#""paper_out":false"#, #""paper_out":true"#))),
        ConformanceCase(table: "Faults a device can cause / Fault", row: "last_will", cls: .speaker) { d in
            try await d.connect()
            try d.send("state", #"{"v":1,"device":"$D","state":"offline","boot":"b1","reason":"will"}"#, retain: true)
            try await d.until("offline by the Will") { $0?.liveness.state == .offline && $0?.liveness.faults.map(\.code.rawValue) == ["last_will"] }
        },
        ConformanceCase(table: "Faults a device can cause / Fault", row: "shutdown", cls: .accessPoint) { d in
            try await d.connect()
            try d.send("state", #"{"v":1,"device":"$D","state":"offline","boot":"b1","reason":"shutdown","ts":$TS}"#)
            try await d.until("offline, shut down") { $0?.liveness.state == .offline && $0?.liveness.faults.map(\.code.rawValue) == ["shutdown"] }
        },
        ConformanceCase(table: "Faults a device can cause / Fault", row: "silent", cls: .speaker) { d in
            try d.send("birth", birth("speaker", hb: "1"))
            try d.send("state", #"{"v":1,"device":"$D","state":"online","boot":"b1","ts":$TS}"#)
            try await d.until("silent after 1.5 × heartbeat") { $0?.liveness.state == .offline }
            let silent = try #require(d.status()?.liveness)
            try d.check(silent.faults.map(\.code.rawValue) == ["silent"], "offline for \(silent.faults)")
            // Issue 13 (3e): the Will the broker publishes later changes neither reason nor onset.
            try d.send("state", #"{"v":1,"device":"$D","state":"offline","boot":"b1","reason":"will"}"#)
            try await d.settled()
            let after = try #require(d.status()?.liveness)
            try d.check(after.faults.map(\.code.rawValue) == ["silent"] && after.since == silent.since, "the Will replaced it: \(after.faults)")
            try d.check(try HealthQueries(d.w.h.db).history(device: d.id).filter { $0.state == .offline }.count == 1, "two offline intervals")
        },
    ]

    // MARK: §5 bad input

    static let reasonCases: [ConformanceCase] = [
        ConformanceCase(table: "Bad input / Reason", row: "unknown_topic", cls: .speaker) { d in
            // (A v2 topic never reaches a v1 controller: it subscribes to wardfleet/v1/# only.)
            for t in ["wardfleet/v1/cam-la/\(d.id)/hello", "wardfleet/v1/cam-la/\(d.id)-ẹ/birth", "wardfleet/v1/cam-la/\(d.id)/telemetry/x",
                      "wardfleet/v1/cam-la/\(d.id)"] {
                try d.sendBytes(t, Array(tel(1, speakerOK).utf8))
                try await d.rejected("unknown_topic", topic: t)
            }
        },
        ConformanceCase(table: "Bad input / Reason", row: "rate_limited", cls: .speaker, serial: true) { d in
            let before = d.w.state.counters["rejected.rate_limited"] ?? 0
            // A burst of 400 readings at once: 200 pass (the burst), the rest are dropped unread.
            for i in 1...400 { try d.w.pub.publish(topic: d.topic("telemetry"), payload: Array(d.fill(tel(i, speakerOK)).utf8), qos: 0) }
            try await d.w.until("readings over the budget counted") { ($0.counters["rejected.rate_limited"] ?? 0) > before }
            try await d.settled()  // counted only: none is listed
            let deadline = ContinuousClock.now + .seconds(45)
            var flooding = false
            while !flooding, ContinuousClock.now < deadline {
                flooding = try AlarmRepository(d.w.h.db).open().contains { $0.deviceID == d.id && $0.kind.rawValue == "flooding" }
                if !flooding { try await Task.sleep(for: .milliseconds(200)) }
            }
            try d.check(flooding, "no flooding alarm")
        },
        ConformanceCase(table: "Bad input / Reason", row: "oversize", cls: .speaker) { d in
            let exact = try d.send("telemetry", padded(d.fill(tel(1, speakerOK)), to: 16_384))
            try await d.until("16,384 bytes accepted") { $0?.lastTelemetry == exact }
            try d.send("telemetry", padded(d.fill(tel(2, speakerOK)), to: 16_385))
            try await d.rejected("oversize", on: "telemetry")
        },
        ConformanceCase(table: "Bad input / Reason", row: "invalid_utf8", cls: .kiosk) { d in
            // The same rule in every kind (issue 13, 3c): a broken byte sequence, or half a surrogate pair.
            func broken(_ json: String) -> [UInt8] {
                var out: [UInt8] = []
                for b in Array(d.fill(json).utf8) { if b == UInt8(ascii: "~") { out += [0xC3, 0x28] } else { out.append(b) } }
                return out
            }
            try d.sendBytes(d.topic("telemetry"), broken(tel(1, #""x_note":"~","# + kioskOK)))
            try await d.rejected("invalid_utf8", on: "telemetry")
            try d.sendBytes(d.topic("event"), broken(event(1, #""event":"tamper","detail":"~""#)))
            try await d.rejected("invalid_utf8", on: "event")
            try d.sendBytes(d.topic("birth"), broken(birth("kiosk", model: "~")))
            try await d.rejected("invalid_utf8", on: "birth")
            try d.send("event", event(2, #""event":"tamper","detail":"\ud800""#))
            try await d.rejected("invalid_utf8", on: "event")
            try d.send("event", event(3, #""event":"tamper","detail":"Kẹt giấy \ud83d\ude00""#))
            try await d.settled()
        },
        ConformanceCase(table: "Bad input / Reason", row: "nesting_too_deep", cls: .speaker) { d in
            // The outer object is level 1: 8 levels pass, a 9th does not.
            let eight = try d.send("telemetry", tel(1, #""x_deep":[[[[[[[1]]]]]]],"# + speakerOK))
            try await d.until("8 levels accepted") { $0?.lastTelemetry == eight }
            try d.send("telemetry", tel(2, #""x_deep":[[[[[[[[1]]]]]]]],"# + speakerOK))
            try await d.rejected("nesting_too_deep", on: "telemetry")
            try d.send("telemetry", tel(3, #""x_deep":"[[[[[[[[[[","# + speakerOK))  // brackets in strings do not count
            try await d.settled()
        },
        ConformanceCase(table: "Bad input / Reason", row: "malformed_json", cls: .speaker) { d in
            for bad in [#"{"v":1,"#, "[1,2,3]", "\"text\"", ""] {
                try d.sendBytes(d.topic("telemetry"), Array(bad.utf8))
                try await d.rejected("malformed_json", on: "telemetry")
            }
        },
        ConformanceCase(table: "Bad input / Reason", row: "invalid_field", cls: .speaker) { d in
            try d.send("birth", #"{"v":1,"device":"$D","class":"speaker","model":"M","firmware":"1","capabilities":[],"boot":"b1"}"#)
            try await d.rejected("invalid_field", on: "birth")
            try await d.settled()
        },
        ConformanceCase(table: "Bad input / Reason", row: "unsupported_version", cls: .speaker) { d in
            try d.send("event", #"{"v":3,"device":"$D","boot":"b1","seq":1,"ts":$TS,"event":"tamper"}"#)
            try await d.rejected("unsupported_version", on: "event")
            try await d.settled()
        },
        ConformanceCase(table: "Bad input / Reason", row: "identity_mismatch", cls: .speaker) { d in
            // Registered in cam-la, speaking under yen-giang.
            try d.send("telemetry", tel(1, speakerOK), commune: "yen-giang")
            try await d.rejected("identity_mismatch", on: "telemetry", commune: "yen-giang")
            try await d.settled()
            try d.check(d.status()?.lastTelemetry == nil, "the reading was applied")
        },
        ConformanceCase(table: "Bad input / Reason", row: "out_of_range", cls: .speaker) { d in
            try d.send("telemetry", tel(1, sub(speakerOK, (#""volume":50"#, #""volume":1000"#))))
            try await d.rejected("out_of_range", on: "telemetry")
            try await d.settled()
        },
        ConformanceCase(table: "Bad input / Reason", row: "class_mismatch", cls: .camera) { d in
            try d.send("birth", birth("speaker"))
            try await d.rejected("class_mismatch", on: "birth")
            try d.send("telemetry", tel(1, speakerOK))
            try await d.rejected("class_mismatch", on: "telemetry")
            try d.send("playback", play(#""play":"CF-ITEM@1796079600000","event":"received""#))
            try await d.rejected("class_mismatch", on: "playback")
        },
        ConformanceCase(table: "Bad input / Reason", row: "replayed_sequence", cls: .kiosk) { d in
            let reading = try d.send("telemetry", tel(5, kioskOK))
            try await d.until("telemetry seq 5") { $0?.lastTelemetry == reading }
            try d.send("telemetry", tel(5, kioskOK))
            try await d.rejected("replayed_sequence", on: "telemetry")
            try d.send("telemetry", tel(4, kioskOK))
            try await d.rejected("replayed_sequence", on: "telemetry")
            // Events count their own sequence.
            try d.send("event", event(1, #""event":"ticket_issued""#))
            try await d.settled()
            try d.check(try HealthQueries(d.w.h.db).eventCount(device: d.id, type: "ticket_issued") == 1, "event seq 1 after telemetry seq 5 refused")
        },
        ConformanceCase(table: "Bad input / Reason", row: "unknown_play", cls: .speaker) { d in
            // A play nobody sent this speaker: refused, so it cannot make up a reach.
            let item = "CF-NEVER-\(d.id)"
            try d.send("playback", play(#""play":"\#(item)@1796079600000","event":"started""#))
            try await d.rejected("unknown_play", on: "playback")
            try d.check(try PlaybackRepository(d.w.h.db).entries(item: item).isEmpty, "a report for a play never sent was logged")
        },
        ConformanceCase(table: "Bad input / Reason", row: "stale_boot", cls: .speaker, serial: true) { d in
            try await d.connect(boot: "b2")
            let before = d.w.state.counters["rejected.stale_boot"] ?? 0
            try d.send("state", #"{"v":1,"device":"$D","state":"offline","boot":"b1","reason":"will"}"#)
            try await d.w.until("stale_boot counted") { ($0.counters["rejected.stale_boot"] ?? 0) == before + 1 }
            try await d.settled()  // counted, not listed
            try d.check(d.status()?.liveness.state == .ok, "an earlier boot's Will took the device offline")
        },
    ]

    // MARK: §5 ignored

    static let ignoredCases: [ConformanceCase] = [
        ConformanceCase(table: "Ignored, not rejected / Ignored", row: "duplicate_event", cls: .kiosk, serial: true) { d in
            let before = d.w.state.counters["ignored.duplicate_event"] ?? 0
            try d.send("event", event(3, #""event":"rating_submitted","rating":"satisfied""#))
            try d.send("event", event(3, #""event":"rating_submitted","rating":"satisfied""#))  // redelivered
            try d.send("event", event(2, #""event":"rating_submitted","rating":"satisfied""#))  // older, already counted
            try await d.w.until("both counted as duplicates") { ($0.counters["ignored.duplicate_event"] ?? 0) == before + 2 }
            try await d.settled()  // and not listed as bad input
            try d.check(try HealthQueries(d.w.h.db).eventCount(device: d.id, type: "rating_submitted") == 1, "the rating was not stored once")
        },
        ConformanceCase(table: "Ignored, not rejected / Ignored", row: "unknown_event", cls: .kiosk, serial: true) { d in
            let before = d.w.state.counters
            try d.send("event", event(1, #""event":"queue_display_reset","detail":"màn hình khởi động lại""#))
            try await d.w.until("counted as ignored") { ($0.counters["ignored.unknown_event"] ?? 0) == (before["ignored.unknown_event"] ?? 0) + 1 }
            try await d.settled()
            let rejected = { (c: [String: UInt64]) in c.filter { $0.key.hasPrefix("rejected.") && $0.key != "rejected.malformed_json" }.values.reduce(0, +) }
            try d.check(rejected(d.w.state.counters) == rejected(before), "counted as a rejection too")
            // Its seq counts: a repeat is a duplicate, dropped and counted as such.
            let duplicates = d.w.state.counters["ignored.duplicate_event"] ?? 0
            try d.send("event", event(1, #""event":"queue_display_reset""#))
            try await d.w.until("counted as a duplicate") { ($0.counters["ignored.duplicate_event"] ?? 0) == duplicates + 1 }
            let ignored = try HealthQueries(d.w.h.db).counters()["ignored.unknown_event"] ?? 0
            let (_, health, _) = try await d.w.cli(["health"], tag: "\(d.id)-health")
            try d.check(health.contains("unknown_event \(ignored)"), "wardfleet health does not show it")
        },
    ]
}

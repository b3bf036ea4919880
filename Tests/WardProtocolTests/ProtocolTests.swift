import Foundation
import Testing
import WardDomain
@testable import WardProtocol

let now = Date(timeIntervalSince1970: 1_795_000_000)
let ts = now.unixMillis

func decode(_ topic: String, _ json: String) -> Result<DecodedMessage, Rejection> {
    ProtocolDecoder().decode(topic: topic, payload: Array(json.utf8), now: now)
}

func rejection(_ topic: String, _ json: String) -> RejectReason? {
    if case .failure(let r) = decode(topic, json) { return r.reason }
    return nil
}

let tel = "wardfleet/v1/cam-la/LOA-01/telemetry"
func speakerJSON(volume: String = "70", device: String = "LOA-01", v: String = "1", ts tsText: String? = nil,
                 extra: String = "") -> String {
    """
    {"v":\(v),"device":"\(device)","boot":"b1","seq":7,"ts":\(tsText ?? "\(ts)"),\(extra)
     "speaker":{"volume":\(volume),"amp_ok":true,"line_ok":false,"playing":false,"rssi":-80,"power":"battery","battery_pct":40}}
    """
}

@Suite struct TopicTests {
    @Test func parsesTheV1Tree() {
        #expect(Topics.parse("wardfleet/v1/cam-la/LOA-01/telemetry") == TopicAddress(commune: "cam-la", device: "LOA-01", kind: .telemetry))
        #expect(Topics.parse("wardfleet/v1/cam-la/LOA-01/cmd")?.kind == .cmd)
        for bad in ["wardfleet/v2/c/d/birth", "wardfleet/v1/c/d", "wardfleet/v1/c/d/birth/x", "wardfleet/v1/c/d/hello",
                    "wardfleet/v1//d/birth", "wardfleet/v1/c/thiết-bị/birth", "other/v1/c/d/birth", ""] {
            #expect(Topics.parse(bad) == nil, "\(bad)")
        }
        #expect(TopicAddress(commune: "c", device: "d", kind: .state).topic == "wardfleet/v1/c/d/state")
        #expect(Topics.shared(group: "ctl") == "$share/ctl/wardfleet/v1/+/+/+")
    }
}

@Suite struct DecodingTests {
    @Test func telemetryBecomesADomainReading() throws {
        let m = try decode(tel, speakerJSON()).get()
        guard case .telemetry(let t) = m.inbound, case .speaker(let s) = t.reading else {
            Issue.record("not speaker telemetry")
            return
        }
        #expect(t.seq == 7 && t.boot == "b1" && t.deviceTime == Date(unixMillis: ts))
        #expect(s == SpeakerReading(volume: 70, amplifierOK: true, speakerLineOK: false, playing: false, rssi: -80,
                                    powerSource: .battery, batteryPercent: 40))
    }

    @Test func everyMessageRoundTripsThroughTheEncoder() throws {
        let birth = Birth(device: "CAM-1", deviceClass: .camera, model: "Hikvision", firmware: "5.7", capabilities: ["reboot"],
                          heartbeatSeconds: 30, boot: "b", ts: ts)
        guard case .birth(let b) = try decode("wardfleet/v1/c/CAM-1/birth", String(decoding: ProtocolEncoder.encode(birth), as: UTF8.self)).get().inbound
        else { Issue.record("birth"); return }
        #expect(b.deviceClass == .camera && b.heartbeat == 30 && b.raw == birth)

        let will = StateMessage(device: "CAM-1", state: .offline, boot: "b", reason: .will, ts: nil)
        #expect(try decode("wardfleet/v1/c/CAM-1/state", String(decoding: ProtocolEncoder.encode(will), as: UTF8.self)).get().inbound
                == .state(will))

        let cam = TelemetryMessage(device: "CAM-1", boot: "b", seq: 1, ts: ts, camera: CameraFields(
            recording: true, streamOK: true, storageUsedBytes: 10, storageTotalBytes: 100, oldestRecordingTs: ts - 86_400_000,
            writeRateBps: 5))
        guard case .telemetry(let t) = try decode("wardfleet/v1/c/CAM-1/telemetry", String(decoding: ProtocolEncoder.encode(cam), as: UTF8.self)).get().inbound,
              case .camera(let c) = t.reading else { Issue.record("camera"); return }
        #expect(c.oldestRecording == now - 86_400 && c.storageTotalBytes == 100)

        let ev = EventMessage(device: "K", boot: "b", seq: 3, ts: ts, event: .ratingSubmitted, rating: .verySatisfied)
        guard case .event(let e) = try decode("wardfleet/v1/c/K/event", String(decoding: ProtocolEncoder.encode(ev), as: UTF8.self)).get().inbound
        else { Issue.record("event"); return }
        #expect(e.type == .ratingSubmitted && e.rating == .verySatisfied)

        let ack = AckMessage(device: "K", boot: "b", cmdID: "c1", result: .ok, detail: "pong", ts: ts)
        #expect(try decode("wardfleet/v1/c/K/ack", String(decoding: ProtocolEncoder.encode(ack), as: UTF8.self)).get().inbound == .ack(ack))
    }

    @Test func unknownFieldsAreIgnoredForForwardCompatibility() {
        #expect(rejection(tel, speakerJSON(extra: "\"vendor_x\":{\"a\":1},")) == nil)
    }

    @Test func commandsOnTheTreeAreRecognisedNotRejected() throws {
        #expect(try decode("wardfleet/v1/c/d/cmd", "whatever").get().inbound == .command)
    }

    @Test func badInputIsRejectedWithItsReason() {
        #expect(rejection("wardfleet/v1/c/LOA-01/hello", speakerJSON()) == .unknownTopic)
        #expect(rejection("random/topic", "{}") == .unknownTopic)
        #expect(rejection(tel, "{\"v\":1,") == .malformedJSON)
        #expect(rejection(tel, "not json at all") == .malformedJSON)
        #expect(rejection(tel, "[1,2,3]") == .malformedJSON)
        #expect(rejection(tel, speakerJSON(volume: "\"loud\"")) == .invalidField)
        #expect(rejection(tel, speakerJSON(volume: "null")) == .invalidField)
        #expect(rejection(tel, speakerJSON(volume: "101")) == .outOfRange)
        #expect(rejection(tel, speakerJSON(volume: "50.5")) == .invalidField)  // valid JSON, a fraction for an integer
        #expect(rejection(tel, speakerJSON(volume: "-1")) == .outOfRange)
        #expect(rejection(tel, speakerJSON(v: "2")) == .unsupportedVersion)
        #expect(rejection(tel, speakerJSON(device: "LOA-02")) == .identityMismatch)
        #expect(rejection(tel, speakerJSON(ts: "1000")) == .outOfRange)
        #expect(rejection(tel, speakerJSON(ts: "\(ts + 3 * 86_400_000)")) == .outOfRange)
        #expect(rejection(tel, "{\"v\":1,\"device\":\"LOA-01\",\"boot\":\"b\",\"seq\":1,\"ts\":\(ts)}") == .invalidField)
        #expect(rejection(tel, "{\"v\":1,\"device\":\"LOA-01\",\"boot\":\"b\",\"seq\":-1,\"ts\":\(ts),\"speaker\":{}}") == .invalidField)
        #expect(rejection(tel, "{\"v\":1,\"device\":\"LOA-01\",\"boot\":\"b\",\"seq\":-1,\"ts\":\(ts),\"speaker\":{\"volume\":1,\"amp_ok\":true,\"line_ok\":true,\"playing\":false,\"power\":\"mains\"}}") == .outOfRange)
        #expect(rejection(tel, speakerJSON().replacingOccurrences(of: "\"seq\":7", with: "\"seq\":-1")) == .outOfRange)
        let big = String(repeating: " ", count: ProtocolLimits.maxPayloadBytes) + speakerJSON()
        #expect(rejection(tel, big) == .oversize)
    }

    @Test func classSpecificRanges() {
        let camTopic = "wardfleet/v1/c/CAM-1/telemetry"
        func cam(_ fields: String) -> RejectReason? {
            rejection(camTopic, "{\"v\":1,\"device\":\"CAM-1\",\"boot\":\"b\",\"seq\":1,\"ts\":\(ts),\"camera\":{\(fields)}}")
        }
        #expect(cam("\"recording\":true,\"stream_ok\":true,\"storage_used_bytes\":-5,\"storage_total_bytes\":100,\"write_rate_bps\":1") == .outOfRange)
        #expect(cam("\"recording\":true,\"stream_ok\":true,\"storage_used_bytes\":500,\"storage_total_bytes\":100,\"write_rate_bps\":1") == .outOfRange)
        #expect(cam("\"recording\":true,\"stream_ok\":true,\"storage_used_bytes\":5,\"storage_total_bytes\":100,\"write_rate_bps\":-1") == .outOfRange)
        #expect(cam("\"recording\":true,\"stream_ok\":true,\"storage_used_bytes\":5,\"storage_total_bytes\":100,\"write_rate_bps\":1,\"oldest_recording_ts\":\(ts + 3_600_000)") == .outOfRange)
        #expect(cam("\"recording\":true,\"stream_ok\":true,\"storage_used_bytes\":5,\"storage_total_bytes\":100,\"write_rate_bps\":1") == nil)

        let k = "wardfleet/v1/c/K/telemetry"
        #expect(rejection(k, "{\"v\":1,\"device\":\"K\",\"boot\":\"b\",\"seq\":1,\"ts\":\(ts),\"kiosk\":{\"printer_ok\":true,\"paper_low\":false,\"paper_out\":false,\"tickets_issued\":1,\"tickets_served\":1,\"ratings\":{\"meh\":1}}}") == .invalidField)
        let ap = "wardfleet/v1/c/AP/telemetry"
        #expect(rejection(ap, "{\"v\":1,\"device\":\"AP\",\"boot\":\"b\",\"seq\":1,\"ts\":\(ts),\"access_point\":{\"uplink_ok\":true,\"clients\":3,\"rx_bps\":1,\"tx_bps\":1,\"cpu_pct\":140,\"mem_pct\":1}}") == .outOfRange)
    }

    @Test func birthAndEventValidation() {
        let b = "wardfleet/v1/c/D/birth"
        func birth(_ cls: String, hb: String = "30") -> RejectReason? {
            rejection(b, "{\"v\":1,\"device\":\"D\",\"class\":\"\(cls)\",\"model\":\"m\",\"firmware\":\"f\",\"capabilities\":[],\"heartbeat_s\":\(hb),\"boot\":\"x\"}")
        }
        #expect(birth("speaker") == nil)
        #expect(birth("toaster") == .invalidField)
        #expect(birth("speaker", hb: "0") == .outOfRange)
        #expect(birth("speaker", hb: "100000") == .outOfRange)
        let e = "wardfleet/v1/c/K/event"
        func event(_ body: String) -> RejectReason? {
            rejection(e, "{\"v\":1,\"device\":\"K\",\"boot\":\"b\",\"seq\":1,\"ts\":\(ts),\(body)}")
        }
        #expect(event("\"event\":\"ticket_served\",\"wait_s\":120") == nil)
        #expect(event("\"event\":\"ticket_served\"") == .invalidField)
        #expect(event("\"event\":\"ticket_served\",\"wait_s\":-3") == .outOfRange)
        #expect(event("\"event\":\"rating_submitted\",\"rating\":\"great\"") == .invalidField)
        #expect(event("\"event\":\"\"") == .invalidField)
    }

    /// Issue 13 (3d): a new event type is an additive v1 change (§6): not bad input.
    @Test func anEventOfAnUnknownTypeIsNotRejected() throws {
        let json = "{\"v\":1,\"device\":\"K\",\"boot\":\"b\",\"seq\":4,\"ts\":\(ts),\"event\":\"door_opened\"}"
        if case .failure(let r) = decode("wardfleet/v1/c/K/event", json) { Issue.record("rejected: \(r)") }
        // Still checked like any event: a bad ts is a bad ts.
        #expect(rejection("wardfleet/v1/c/K/event", json.replacingOccurrences(of: "\(ts)", with: "1000")) == .outOfRange)
    }

    /// Issue 13 (3a): the doc says an offline state needs its reason.
    @Test func anOfflineStateWithoutReasonIsInvalidField() {
        let st = "wardfleet/v1/c/D/state"
        #expect(rejection(st, "{\"v\":1,\"device\":\"D\",\"state\":\"offline\",\"boot\":\"b\"}") == .invalidField)
        #expect(rejection(st, "{\"v\":1,\"device\":\"D\",\"state\":\"offline\",\"boot\":\"b\",\"reason\":\"will\"}") == nil)
        #expect(rejection(st, "{\"v\":1,\"device\":\"D\",\"state\":\"online\",\"boot\":\"b\"}") == nil)
    }

    /// Issue 13 (3c): invalid UTF-8 was turned into U+FFFD in telemetry but refused as
    /// malformed_json in events. One rule for every kind, with its own reason.
    @Test func invalidUTF8IsOneRuleWithItsOwnReasonInEveryKind() {
        let bad: [UInt8] = [0xC3, 0x28]  // a broken two-byte sequence
        let messages: [(String, String)] = [
            ("telemetry", speakerJSON(device: "D", extra: "\"x_note\":\"~\",")),
            ("event", "{\"v\":1,\"device\":\"D\",\"boot\":\"b\",\"seq\":1,\"ts\":\(ts),\"event\":\"tamper\",\"detail\":\"~\"}"),
            ("birth", "{\"v\":1,\"device\":\"D\",\"class\":\"speaker\",\"model\":\"~\",\"firmware\":\"f\",\"capabilities\":[],\"heartbeat_s\":30,\"boot\":\"x\"}"),
            ("state", "{\"v\":1,\"device\":\"D\",\"state\":\"online\",\"boot\":\"~\"}"),
            ("ack", "{\"v\":1,\"device\":\"D\",\"boot\":\"b\",\"cmd_id\":\"c\",\"result\":\"ok\",\"detail\":\"~\",\"ts\":\(ts)}"),
            ("playback", "{\"v\":1,\"device\":\"D\",\"boot\":\"b\",\"ts\":\(ts),\"play\":\"I@1\",\"event\":\"received\",\"detail\":\"~\"}"),
        ]
        for (kind, json) in messages {
            let topic = "wardfleet/v1/c/D/\(kind)"
            #expect(rejection(topic, json.replacingOccurrences(of: "~", with: "ok")) == nil, "\(kind) valid")
            var bytes: [UInt8] = []
            for b in Array(json.utf8) { if b == UInt8(ascii: "~") { bytes += bad } else { bytes.append(b) } }
            var reason: String?
            if case .failure(let r) = ProtocolDecoder().decode(topic: topic, payload: bytes, now: now) { reason = r.reason.rawValue }
            #expect(reason == "invalid_utf8", "\(kind)")
            // An escaped lone surrogate would decode to U+FFFD as well: the same rule.
            let escaped = json.replacingOccurrences(of: "~", with: "\\ud800")
            var r2: String?
            if case .failure(let r) = decode(topic, escaped) { r2 = r.reason.rawValue }
            #expect(r2 == "invalid_utf8", "\(kind) escaped surrogate")
        }
        // A proper escaped pair is fine.
        #expect(rejection(tel, speakerJSON(extra: "\"x_note\":\"\\ud83d\\ude00\",")) == nil)
    }

    /// Issue 13 (3e): the exact boundaries the doc now states.
    @Test func boundariesAreExact() {
        let base = speakerJSON()
        let exact = base + String(repeating: " ", count: ProtocolLimits.maxPayloadBytes - base.utf8.count)
        #expect(exact.utf8.count == 16_384 && rejection(tel, exact) == nil)
        #expect(rejection(tel, exact + " ") == .oversize)
        // Nesting: the outer object is level 1; 8 levels pass, 9 do not.
        func nested(_ levels: Int) -> String {
            speakerJSON(extra: "\"x_deep\":" + String(repeating: "[", count: levels - 1) + String(repeating: "]", count: levels - 1) + ",")
        }
        #expect(rejection(tel, nested(8)) == nil)
        #expect(rejection(tel, nested(9)) == .nestingTooDeep)
        // Time window, inclusive at both ends.
        #expect(rejection(tel, speakerJSON(ts: "1577836800000")) == nil)
        #expect(rejection(tel, speakerJSON(ts: "1577836799999")) == .outOfRange)
        #expect(rejection(tel, speakerJSON(ts: "\(ts + 86_400_000)")) == nil)
        #expect(rejection(tel, speakerJSON(ts: "\(ts + 86_400_001)")) == .outOfRange)
    }

    @Test func vietnameseDetailSurvivesInNFC() throws {
        let decomposed = "Ke\u{0323}t giâ\u{0301}y"  // "Kẹt giấy" typed decomposed
        let json = "{\"v\":1,\"device\":\"K\",\"boot\":\"b\",\"seq\":1,\"ts\":\(ts),\"event\":\"tamper\",\"detail\":\"\(decomposed)\"}"
        guard case .event(let e) = try decode("wardfleet/v1/c/K/event", json).get().inbound else { Issue.record("event"); return }
        #expect(e.detail == "Kẹt giấy")
    }

    /// Seeded random mutations of a valid payload: the decoder answers every one with a value or
    /// a classified, explained rejection, never a crash; and mutations are in fact caught.
    @Test func mutatedPayloadsAreClassifiedNeverCrash() {
        var seed: UInt64 = 0x5eed
        func next() -> UInt64 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return seed >> 17
        }
        let decoder = ProtocolDecoder()
        let base = Array(speakerJSON().utf8)
        var accepted = 0
        var reasons: [RejectReason: Int] = [:]
        for _ in 0..<5_000 {
            var bytes = base
            for _ in 0..<(1 + Int(next() % 4)) {
                let i = Int(next() % UInt64(bytes.count))
                switch next() % 3 {
                case 0: bytes[i] = UInt8(truncatingIfNeeded: next())
                case 1: bytes.remove(at: i)
                default: bytes.insert(UInt8(truncatingIfNeeded: next()), at: i)
                }
            }
            switch decoder.decode(topic: tel, payload: bytes, now: now) {
            case .success: accepted += 1
            case .failure(let r):
                #expect(!r.detail.isEmpty)
                reasons[r.reason, default: 0] += 1
            }
        }
        #expect(accepted + reasons.values.reduce(0, +) == 5_000)
        // Most mutations break the JSON itself, or its UTF-8 (a random byte above 0x7F).
        #expect(reasons.filter { ["malformed_json", "invalid_utf8"].contains($0.key.rawValue) }.values.reduce(0, +) > 1_000)
        #expect(reasons[.invalidField] != nil && reasons[.identityMismatch] != nil)
        #expect(accepted > 0)  // some only touch a value's digits or whitespace
    }
}

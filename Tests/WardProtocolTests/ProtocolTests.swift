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
        #expect(event("\"event\":\"party\"") == .invalidField)
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
        #expect((reasons[.malformedJSON] ?? 0) > 1_000)  // most mutations break the JSON itself
        #expect(reasons[.invalidField] != nil && reasons[.identityMismatch] != nil)
        #expect(accepted > 0)  // some only touch a value's digits or whitespace
    }
}

import Foundation
import Testing
@testable import WardDomain

@Suite struct SMSTests {
    let t0 = Date(timeIntervalSince1970: 1_796_000_000)

    func alarm(_ id: Int64, _ kind: AlarmKind = .offline, severity: AlarmSeverity = .major, commune: String = "cam-la",
               raised: Date? = nil, acked: Date? = nil, cleared: Date? = nil) -> SMSAlarm {
        SMSAlarm(alarm: Alarm(id: id, kind: kind, severity: severity, deviceID: "LOA-\(id)", villageID: "thon-dong", communeID: commune,
                              since: raised ?? t0, raisedAt: raised ?? t0, ackedBy: acked == nil ? nil : "kythuat", ackedAt: acked, clearedAt: cleared),
                 place: "Nhà văn hóa, Thôn Đông, Xã Cẩm La", area: "Thôn Đông")
    }

    func contacts() throws -> [SMSContact] {
        [SMSContact(phone: try PhoneNumber("0912 345 678"), name: "Kỹ thuật viên", commune: "cam-la", level: 0),
         SMSContact(phone: try PhoneNumber("+84 987.654.321"), name: "Phó chủ tịch", commune: "cam-la", level: 1),
         SMSContact(phone: try PhoneNumber("84352000111"), name: "Trực ban huyện", commune: nil, level: 2),
         SMSContact(phone: try PhoneNumber("0388000999"), name: "Xã khác", commune: "duy-phuoc", level: 0)]
    }

    /// What the outbox would hold after queuing `messages`.
    func record(_ messages: [SMSMessage], at: Date) -> [SMSSent] {
        messages.map { SMSSent(recipient: $0.recipient, at: at, covers: $0.covers) }
    }

    @Test func phoneNumbersAreVietnameseMobilesInPlus84Form() throws {
        #expect(try PhoneNumber("0912345678").value == "+84912345678")
        #expect(try PhoneNumber("+84 912 345 678").value == "+84912345678")
        #expect(try PhoneNumber("(+84) 352.000.111").value == "+84352000111")
        #expect(try PhoneNumber("84-703-000-111").value == "+84703000111")
        for bad in ["091234567", "02437654321", "+1 202 555 0100", "0912345678x", "", "+84 112 345 678", "0912 345 6789"] {
            #expect(throws: SMSRefusal.self, "\(bad)") { try PhoneNumber(bad) }
        }
        let e = #expect(throws: SMSRefusal.self) { try PhoneNumber("12345") }
        #expect(e?.description.contains(" / ") == true)
    }

    @Test func unaccentedTextAndParts() {
        #expect(Unaccented.text("Mất điện tại Thôn Đông, Xã Cẩm Lệ – loa “Đầu làng”…") == "Mat dien tai Thon Dong, Xa Cam Le - loa \"Dau lang\"...")
        #expect(Unaccented.text("ĐẶNG Thị Hồng Nhung; ỷ ữ ẫ ặ") == "DANG Thi Hong Nhung; y u a a")
        // Decomposed input (NFD) gives the same.
        #expect(Unaccented.text("Thôn Đông".decomposedStringWithCanonicalMapping) == "Thon Dong")
        #expect(Unaccented.parts(String(repeating: "a", count: 160)) == 1)
        #expect(Unaccented.parts(String(repeating: "a", count: 161)) == 2)
        #expect(Unaccented.parts(String(repeating: "ă", count: 70)) == 1)
        #expect(Unaccented.parts(String(repeating: "ă", count: 71)) == 2)
    }

    @Test func templatesInVietnameseByKindAndSeverity() throws {
        let policy = SMSPolicy(brand: "UBND CAM LA")
        let templates = try SMSTemplates(templates: ["raised.amplifier_fault": "{brand}: hỏng amply {device} ({place}), mức {severity}"])
        let major = SMSPlanner.render(alarm(1), .init(alarmID: 1, event: .raised, level: 0), policy: policy, templates: templates)
        #expect(major.hasPrefix("UBND CAM LA: KHẨN - mất kết nối LOA-1 tại Nhà văn hóa, Thôn Đông, Xã Cẩm La từ "))
        #expect(major.hasSuffix("Đề nghị kiểm tra ngay."))
        #expect(!major.contains("{"))
        let amp = SMSPlanner.render(alarm(2, .amplifierFault, severity: .minor), .init(alarmID: 2, event: .raised, level: 0), policy: policy, templates: templates)
        #expect(amp == "UBND CAM LA: hỏng amply LOA-2 (Nhà văn hóa, Thôn Đông, Xã Cẩm La), mức nhẹ")
        let esc = SMSPlanner.render(alarm(1), .init(alarmID: 1, event: .escalated, level: 1), policy: policy, templates: templates)
        #expect(esc.contains("CHƯA AI XỬ LÝ (báo cấp 2)"))
        var ascii = policy
        ascii.unaccented = true
        let plain = SMSPlanner.render(alarm(1), .init(alarmID: 1, event: .raised, level: 0), policy: ascii, templates: templates)
        let isASCII = plain.unicodeScalars.allSatisfy { $0.isASCII }
        #expect(isASCII)
        #expect(plain.hasPrefix("UBND CAM LA: KHAN - mat ket noi LOA-1 tai Nha van hoa, Thon Dong, Xa Cam La tu "))
        #expect(throws: SMSRefusal.self) { try SMSTemplates(templates: ["raised.nonsense": "x"]) }
        #expect(throws: SMSRefusal.self) { try SMSTemplates(templates: ["sent": "x"]) }
        var short = policy
        short.maxLength = 40
        #expect(SMSPlanner.render(alarm(1), .init(alarmID: 1, event: .raised, level: 0), policy: short, templates: templates).count == 40)
    }

    @Test func oneAlarmGoesToLevelZeroOfItsCommuneOnly() throws {
        let msgs = SMSPlanner.plan(alarms: [alarm(1)], contacts: try contacts(), sent: [], policy: SMSPolicy(), templates: try SMSTemplates(), now: t0)
        #expect(msgs.map(\.recipient.value) == ["+84912345678"])
        #expect(msgs[0].covers == [.init(alarmID: 1, event: .raised, level: 0)])
        // Queued: nothing more is owed at the same moment.
        #expect(SMSPlanner.plan(alarms: [alarm(1)], contacts: try contacts(), sent: record(msgs, at: t0), policy: SMSPolicy(),
                                templates: try SMSTemplates(), now: t0).isEmpty)
        // Below the minimum severity: nothing.
        var policy = SMSPolicy()
        policy.minSeverity = .major
        #expect(SMSPlanner.plan(alarms: [alarm(2, .paperOut, severity: .warning)], contacts: try contacts(), sent: [], policy: policy,
                                templates: try SMSTemplates(), now: t0).isEmpty)
    }

    @Test func aStormBecomesOneSummaryPerRecipient() throws {
        let policy = SMSPolicy(stormThreshold: 3, stormWindow: 300)
        let storm = (1...7).map { alarm(Int64($0), $0 % 2 == 0 ? .amplifierFault : .offline, raised: t0.addingTimeInterval(Double($0))) }
        let msgs = SMSPlanner.plan(alarms: storm, contacts: try contacts(), sent: [], policy: policy, templates: try SMSTemplates(), now: t0.addingTimeInterval(10))
        #expect(msgs.count == 1)
        #expect(msgs[0].isSummary)
        #expect(msgs[0].covers.count == 7)
        #expect(msgs[0].text == "WardFleet: 7 cảnh báo cùng lúc tại Thôn Đông: 4 mất kết nối, 3 lỗi bộ khuếch đại (amply). Xem bảng điều khiển WardFleet."
                || msgs[0].text.hasPrefix("WardFleet: 7 cảnh báo cùng lúc tại Thôn Đông: 4 mất kết nối, 3 "))
        // Up to the threshold, one text each.
        let few = SMSPlanner.plan(alarms: Array(storm.prefix(3)), contacts: try contacts(), sent: [], policy: policy, templates: try SMSTemplates(), now: t0)
        #expect(few.count == 3 && few.allSatisfy { !$0.isSummary })
        // Two more in the same window pass the threshold: one summary of the two.
        let more = SMSPlanner.plan(alarms: storm.prefix(5).map { $0 }, contacts: try contacts(), sent: record(few, at: t0), policy: policy,
                                   templates: try SMSTemplates(), now: t0.addingTimeInterval(60))
        #expect(more.count == 1 && more[0].isSummary && more[0].covers.map(\.alarmID) == [4, 5])
    }

    @Test func theHourlyLimitHoldsMessagesAndSendsThemAsOneSummaryLater() throws {
        let policy = SMSPolicy(perRecipientPerHour: 2, stormThreshold: 100, escalateAfter: nil)  // one level: the limit alone
        let templates = try SMSTemplates()
        let c = try contacts()
        var sent: [SMSSent] = []
        var at = t0
        for id in 1...2 {
            let m = SMSPlanner.plan(alarms: [alarm(Int64(id), raised: at)], contacts: c, sent: sent, policy: policy, templates: templates, now: at)
            #expect(m.count == 1)
            sent += record(m, at: at)
            at += 60
        }
        // The third and fourth within the hour: held.
        let held = [alarm(3, raised: at), alarm(4, raised: at + 60)]
        #expect(SMSPlanner.plan(alarms: held, contacts: c, sent: sent, policy: policy, templates: templates, now: at + 60).isEmpty)
        // An hour after the first, one slot frees: both go out as one summary.
        let later = SMSPlanner.plan(alarms: held, contacts: c, sent: sent, policy: policy, templates: templates, now: t0 + 3600)
        #expect(later.count == 1 && later[0].isSummary && later[0].covers.map(\.alarmID) == [3, 4])
    }

    @Test func escalationFollowsTheLevelsUntilAcknowledged() throws {
        let policy = SMSPolicy(escalateAfter: 900)
        let templates = try SMSTemplates()
        let c = try contacts()
        var sent: [SMSSent] = []
        func step(_ a: SMSAlarm, _ at: Date) -> [String] {
            let m = SMSPlanner.plan(alarms: [a], contacts: c, sent: sent, policy: policy, templates: templates, now: at)
            sent += record(m, at: at)
            return m.map(\.recipient.value)
        }
        #expect(step(alarm(1), t0) == ["+84912345678"])
        #expect(step(alarm(1), t0 + 899).isEmpty)
        #expect(step(alarm(1), t0 + 900) == ["+84987654321"])
        #expect(sent.last?.covers == [.init(alarmID: 1, event: .escalated, level: 1)])
        #expect(step(alarm(1), t0 + 1800) == ["+84352000111"])  // the district, for every commune
        #expect(step(alarm(1), t0 + 9000).isEmpty)              // no level beyond the last
        // Acknowledged at level 1: the district is never told.
        sent = []
        #expect(step(alarm(2), t0) == ["+84912345678"])
        #expect(step(alarm(2), t0 + 900) == ["+84987654321"])
        #expect(step(alarm(2, acked: t0 + 1000), t0 + 5000).isEmpty)
        // Cleared: those told hear it is over, once.
        let over = alarm(2, acked: t0 + 1000, cleared: t0 + 6000)
        #expect(Set(step(over, t0 + 6000)) == ["+84912345678", "+84987654321"])
        #expect(sent.suffix(2).allSatisfy { $0.covers.first?.event == .cleared })
        #expect(step(over, t0 + 6001).isEmpty)
        // An alarm acknowledged before anyone was texted is not texted.
        #expect(step(alarm(3, acked: t0 + 1), t0 + 2).isEmpty)
    }
}

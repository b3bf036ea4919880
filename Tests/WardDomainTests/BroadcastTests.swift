import Foundation
import Testing
@testable import WardDomain

let cal = LocalCalendar.vietnam
func day(_ s: String) -> LocalDay { LocalDay(s)! }
func time(_ s: String) -> LocalTime { LocalTime(s)! }
func at(_ d: String, _ t: String) -> Date { cal.date(day(d), time(t)) }

@Suite struct LocalTimeTests {
    @Test func parsingAndPrinting() {
        #expect(LocalDay("2026-11-23")?.description == "2026-11-23")
        #expect(LocalDay("2026-02-29") == nil && LocalDay("2026-1-5") == nil && LocalDay("ngày mai") == nil)
        #expect(LocalTime("06:30")?.description == "06:30" && LocalTime("18:05:09")?.secondsOfDay == 18 * 3600 + 5 * 60 + 9)
        #expect(LocalTime("24:00") == nil && LocalTime("7h30") == nil && LocalTime("07:60") == nil)
    }

    @Test func localTimesAreUTCPlusSeven() throws {
        #expect(at("2026-11-23", "07:00") == ISO8601DateFormatter().date(from: "2026-11-23T00:00:00Z"))
        #expect(cal.localDay(of: at("2026-11-23", "00:30")) == day("2026-11-23"))
        #expect(cal.localTime(of: at("2026-11-23", "23:59:59")) == time("23:59:59"))
    }

    @Test func weekdaysAndDayArithmetic() {
        #expect(cal.weekday(of: day("2026-11-23")) == .monday)
        #expect(cal.weekday(of: day("2026-11-29")) == .sunday)
        #expect(cal.adding(days: 9, to: day("2026-12-28")) == day("2027-01-06"))
        #expect(cal.adding(days: -1, to: day("2026-03-01")) == day("2026-02-28"))
        #expect(Weekday.sunday.vietnamese == "Chủ nhật")
    }
}

@Suite struct RecurrenceTests {
    @Test func rulesPickTheirDays() {
        let from = day("2026-11-23"), to = day("2026-12-06")  // Monday … Sunday two weeks later
        func days(_ r: RepeatRule, until: LocalDay? = nil, skipped: Set<LocalDay> = []) -> [String] {
            Recurrence(rule: r, firstDay: from, startTime: time("06:00"), until: until, skipped: skipped)
                .days(from: from, to: to).map(\.description)
        }
        #expect(days(.once) == ["2026-11-23"])
        #expect(days(.daily).count == 14)
        #expect(days(.weekdays).count == 10 && !days(.weekdays).contains("2026-11-28"))
        #expect(days(.weekly([.wednesday, .saturday])) == ["2026-11-25", "2026-11-28", "2026-12-02", "2026-12-05"])
        #expect(days(.daily, until: day("2026-11-25")) == ["2026-11-23", "2026-11-24", "2026-11-25"])
        #expect(days(.weekdays, skipped: [day("2026-11-24"), day("2026-11-30")]).count == 8)
    }

    @Test func occurrencesIncludeOneStartedBeforeTheWindow() {
        let r = Recurrence(rule: .daily, firstDay: day("2026-11-23"), startTime: time("23:50"))
        let window = DateInterval(start: at("2026-11-24", "00:00"), end: at("2026-11-25", "00:00"))
        let occ = r.occurrences(of: 20 * 60, overlapping: window)
        #expect(occ.map(\.start) == [at("2026-11-23", "23:50"), at("2026-11-24", "23:50")])
    }

    @Test func invalidRecurrencesAreRefusedWithAReason() {
        #expect(throws: Recurrence.Problem.untilBeforeFirstDay) {
            try Recurrence(rule: .daily, firstDay: day("2026-11-23"), startTime: time("06:00"), until: day("2026-11-22")).validate()
        }
        #expect(throws: Recurrence.Problem.noWeekdayChosen) {
            try Recurrence(rule: .weekly([]), firstDay: day("2026-11-23"), startTime: time("06:00")).validate()
        }
        #expect(throws: Recurrence.Problem.nothingLeft) {
            try Recurrence(rule: .once, firstDay: day("2026-11-23"), startTime: time("06:00"), skipped: [day("2026-11-23")]).validate()
        }
        #expect(throws: Recurrence.Problem.nothingLeft) {  // weekdays only, over a weekend
            try Recurrence(rule: .weekdays, firstDay: day("2026-11-28"), startTime: time("06:00"), until: day("2026-11-29")).validate()
        }
        #expect(throws: Never.self) { try Recurrence(rule: .daily, firstDay: day("2026-11-23"), startTime: time("06:00")).validate() }
    }

    /// A new item's first play must be ahead; "now" is Wednesday 2026-11-25 10:00.
    @Test func aNewScheduleMustStartAhead() {
        let now = at("2026-11-25", "10:00")
        func check(_ r: RepeatRule, _ d: String, _ t: String, until: String? = nil) throws {
            try Recurrence(rule: r, firstDay: day(d), startTime: time(t), until: until.map(day)).checkAhead(of: now)
        }
        #expect(throws: Recurrence.Problem.startPassed(day("2026-11-24"), time("09:00"))) { try check(.once, "2026-11-24", "09:00") }
        #expect(throws: Recurrence.Problem.startPassed(day("2026-11-25"), time("09:59"))) { try check(.once, "2026-11-25", "09:59") }
        // Repeating from a past day is a past start too, even though later plays are ahead.
        #expect(throws: Recurrence.Problem.startPassed(day("2026-11-18"), time("06:00"))) { try check(.daily, "2026-11-18", "06:00") }
        #expect(throws: Never.self) { try check(.once, "2026-11-25", "10:01") }
        #expect(throws: Never.self) { try check(.daily, "2026-11-26", "06:00") }
        // The first play is the first day the rule plays on: weekly on Thursdays, typed from today.
        #expect(throws: Never.self) { try check(.weekly([.thursday]), "2026-11-25", "06:00") }
        #expect(throws: Recurrence.Problem.startPassed(day("2026-11-25"), time("06:00"))) { try check(.weekly([.wednesday]), "2026-11-25", "06:00") }
        #expect(Recurrence.Problem.startPassed(day("2026-11-24"), time("09:00")).description
                == "lần phát đầu tiên (24/11/2026 09:00) đã qua: hãy chọn ngày giờ sắp tới / the first play (2026-11-24 09:00) is already past: choose a day and time ahead")
    }

    /// An edit may leave an item that began last week as it is, or change it while a play is left
    /// ahead; moving the first day into the past, or leaving nothing ahead, is refused.
    @Test func anEditedScheduleMustKeepAPlayAhead() {
        let now = at("2026-11-25", "10:00")
        let weekly = Recurrence(rule: .weekly([.monday, .wednesday]), firstDay: day("2026-11-16"), startTime: time("06:00"))
        func edit(_ c: RecurrenceChange, of r: Recurrence = weekly) throws { try c.applied(to: r).checkAhead(of: now, replacing: r) }
        #expect(throws: Never.self) { try edit(RecurrenceChange()) }  // only the title (or target) changed
        #expect(throws: Never.self) { try edit(RecurrenceChange(startTime: time("06:30"))) }  // next Monday is ahead
        #expect(throws: Never.self) { try edit(RecurrenceChange(until: day("2026-11-30"))) }
        #expect(throws: Recurrence.Problem.nothingAhead) { try edit(RecurrenceChange(until: day("2026-11-25"))) }  // today's 06:00 has played
        #expect(throws: Recurrence.Problem.startPassed(day("2026-11-23"), time("06:00"))) { try edit(RecurrenceChange(firstDay: day("2026-11-23"))) }
        #expect(throws: Never.self) { try edit(RecurrenceChange(firstDay: day("2026-11-30"))) }
        let once = Recurrence.once(day("2026-11-25"), at: time("11:00"))
        #expect(throws: Recurrence.Problem.nothingAhead) { try edit(RecurrenceChange(startTime: time("09:00")), of: once) }
        #expect(throws: Never.self) { try edit(RecurrenceChange(startTime: time("10:30")), of: once) }
        // An item whose only play has gone by can still be renamed.
        #expect(throws: Never.self) { try edit(RecurrenceChange(), of: .once(day("2026-11-20"), at: time("06:00"))) }
    }

    /// The defect: a new first day turned a weekly item into a one-off. What an edit leaves out stays.
    @Test func aChangedFirstDayKeepsTheRepetition() throws {
        let weekly = Recurrence(rule: .weekly([.monday, .wednesday]), firstDay: day("2026-11-16"), startTime: time("06:00"),
                                until: day("2027-01-31"), skipped: [day("2026-12-02")])
        let moved = try RecurrenceInput(day: "2026-11-30", time: nil).change().applied(to: weekly)
        #expect(moved == Recurrence(rule: .weekly([.monday, .wednesday]), firstDay: day("2026-11-30"), startTime: time("06:00"),
                                    until: day("2027-01-31"), skipped: [day("2026-12-02")]))
        let weekdays = Recurrence(rule: .weekdays, firstDay: day("2026-11-16"), startTime: time("07:30"))
        #expect(try RecurrenceInput(day: "2026-12-01", time: "07:45").change().applied(to: weekdays).rule == .weekdays)
        // Weekly without days keeps its days; days alone make it weekly; a rule given replaces it.
        #expect(try RecurrenceInput(day: nil, time: nil, repeatRule: "weekly").change().applied(to: weekly).rule == .weekly([.monday, .wednesday]))
        #expect(try RecurrenceInput(day: nil, time: nil, on: ["t6"]).change().applied(to: weekdays).rule == .weekly([.friday]))
        #expect(try RecurrenceInput(day: nil, time: nil, repeatRule: "daily").change().applied(to: weekly).rule == .daily)
        #expect(try RecurrenceInput(day: nil, time: nil, until: "").change().applied(to: weekly).until == nil)
        #expect(try RecurrenceInput(day: nil, time: nil).change().isEmpty)
        // A new item still needs its day and time, and is once unless said otherwise.
        #expect(throws: RecurrenceInput.Problem.self) { try RecurrenceInput(day: "2026-11-30", time: nil).recurrence() }
        #expect(try RecurrenceInput(day: "2026-11-30", time: "06:00").recurrence() == .once(day("2026-11-30"), at: time("06:00")))
        #expect(throws: RecurrenceInput.Problem.self) { try RecurrenceInput(day: "30/11/2026", time: nil).change() }
    }

    @Test func quietHoursAcrossMidnight() {
        let q = QuietHours(start: time("21:30"), end: time("05:30"))
        func quiet(_ d: String, _ t: String, minutes: Double) -> Bool {
            q.intersects(DateInterval(start: at(d, t), duration: minutes * 60))
        }
        #expect(quiet("2026-11-23", "22:00", minutes: 10))
        #expect(quiet("2026-11-24", "03:00", minutes: 10))
        #expect(quiet("2026-11-23", "21:00", minutes: 45))   // runs into the night
        #expect(quiet("2026-11-24", "05:20", minutes: 15))   // starts before morning
        #expect(!quiet("2026-11-24", "05:30", minutes: 30))  // ends exactly where it starts
        #expect(!quiet("2026-11-24", "06:00", minutes: 15))
        #expect(!quiet("2026-11-24", "21:00", minutes: 30))  // ends at 21:30 exactly
        #expect(!QuietHours(start: time("12:00"), end: time("12:00")).intersects(DateInterval(start: at("2026-11-24", "12:00"), duration: 60)))
    }
}

@Suite struct ScheduleTests {
    let tree = try! PlaceTree([
        Place(id: "qn", level: .province, name: "Tỉnh Quảng Ninh"),
        Place(id: "cl", level: .commune, name: "Xã Cẩm La", parentID: "qn"),
        Place(id: "v1", level: .village, name: "Thôn Cẩm La", parentID: "cl"),
        Place(id: "v2", level: .village, name: "Khu phố Yên Giang", parentID: "cl"),
        Place(id: "s1", level: .site, name: "Nhà văn hóa", parentID: "v1", siteKind: .culturalHouse),
        Place(id: "s2", level: .site, name: "Chợ", parentID: "v2", siteKind: .market),
        Place(id: "s0", level: .site, name: "UBND", parentID: "cl", siteKind: .communeOffice),
    ])
    var directory: SpeakerDirectory {
        let t0 = Date(timeIntervalSince1970: 0)
        return SpeakerDirectory(tree: tree, devices: [
            Device(id: "L1", deviceClass: .speaker, siteID: "s1", registeredAt: t0),
            Device(id: "L2", deviceClass: .speaker, siteID: "s1", registeredAt: t0),
            Device(id: "L3", deviceClass: .speaker, siteID: "s2", registeredAt: t0),
            Device(id: "L0", deviceClass: .speaker, siteID: "s0", registeredAt: t0),
            Device(id: "CAM", deviceClass: .camera, siteID: "s1", registeredAt: t0),
            Device(id: "OLD", deviceClass: .speaker, siteID: "s2", registeredAt: t0, removedAt: t0),
        ], groups: ["Chợ": ["L3"], "Trung tâm": ["L0", "L1"]])
    }
    let now = at("2026-11-23", "00:00")

    func item(_ id: String, _ level: BroadcastLevel = .normal, _ rule: RepeatRule = .daily, start: String = "06:00",
              minutes: Double = 15, first: String = "2026-11-23", until: String? = nil, skipped: Set<LocalDay> = [],
              target: BroadcastTarget = BroadcastTarget(communes: ["cl"]), order: Int? = nil) -> BroadcastItem {
        BroadcastItem(id: id, title: "Bản tin \(id)", level: level, duration: minutes * 60,
                      recurrence: Recurrence(rule: rule, firstDay: day(first), startTime: time(start),
                                             until: until.map(day), skipped: skipped),
                      target: target, priorityOrder: order)
    }

    @Test func targetsResolveToSpeakersAndNameWhatMatchedNothing() {
        let d = directory
        #expect(d.resolve(BroadcastTarget(communes: ["cl"])).speakers == ["L0", "L1", "L2", "L3"])
        #expect(d.resolve(BroadcastTarget(villages: ["v2"])).speakers == ["L3"])
        #expect(d.resolve(BroadcastTarget(groups: ["Trung tâm"], speakers: ["L3"])).speakers == ["L0", "L1", "L3"])
        let r = d.resolve(BroadcastTarget(villages: ["v9"], groups: ["Không có"], speakers: ["CAM", "OLD"]))
        #expect(r.speakers.isEmpty && r.unknown == ["v9", "Không có", "CAM", "OLD"])
    }

    @Test func overlappingNormalItemsOnASharedSpeakerAreRefusedWithTheirTimes() throws {
        let checker = ScheduleChecker(directory: directory)
        let existing = item("A", start: "06:00", minutes: 15)
        let candidate = item("B", .normal, .weekly([.monday]), start: "06:10", minutes: 10, target: BroadcastTarget(villages: ["v1"]))
        let c = checker.conflicts(of: candidate, with: [existing], now: now)
        #expect(c.count == 1)
        let conflict = try #require(c.first)
        #expect(conflict.kind == .normalOverlap && conflict.other == "A")
        #expect(conflict.speakers == ["L1", "L2"])
        // Every Monday in the 90 days from Monday 23 November 2026: 13 of them.
        #expect(conflict.occurrences.count == 13)
        #expect(conflict.occurrences.first?.start == at("2026-11-23", "06:10"))
        #expect(conflict.message(titles: ["A": "Bản tin sáng", "B": "Thông báo thôn"]).hasPrefix("“Thông báo thôn” trùng giờ với “Bản tin sáng” (A)"))
        #expect(conflict.message().contains("23/11/2026 06:10 và 12 lần khác") && conflict.message().contains("and 12 more times"))
    }

    @Test func noConflictWhenSpeakersOrTimesDoNotMeet() {
        let checker = ScheduleChecker(directory: directory)
        let a = item("A", target: BroadcastTarget(villages: ["v1"]))
        #expect(checker.conflicts(of: item("B", target: BroadcastTarget(villages: ["v2"])), with: [a], now: now).isEmpty)
        #expect(checker.conflicts(of: item("C", start: "06:15"), with: [a], now: now).isEmpty)  // back to back
        #expect(checker.conflicts(of: item("D", start: "05:45", minutes: 15), with: [a], now: now).isEmpty)
        var cancelled = a
        cancelled.cancelled = true
        #expect(checker.conflicts(of: item("E"), with: [cancelled], now: now).isEmpty)
    }

    @Test func untilAndSkippedDatesAreRespectedExactly() throws {
        let checker = ScheduleChecker(directory: directory)
        let a = item("A", until: "2026-11-30")                                                   // 8 mornings
        let b = item("B", .normal, .daily, start: "06:05", skipped: [day("2026-11-25"), day("2026-11-26")])
        let c = try #require(checker.conflicts(of: b, with: [a], now: now).first)
        #expect(c.occurrences.count == 6)
        #expect(!c.occurrences.contains { cal.localDay(of: $0.start) == day("2026-11-25") })
    }

    @Test func priorityItemsNeedAnOrderAndGoAheadOfNormal() {
        let checker = ScheduleChecker(directory: directory)
        let normal = item("N")
        let p1 = item("P1", .priority, .once, start: "06:05")
        #expect(checker.conflicts(of: p1, with: [normal], now: now).isEmpty)  // priority goes ahead
        let p2 = item("P2", .priority, .once, start: "06:10")
        #expect(checker.conflicts(of: p2, with: [p1], now: now).map(\.kind) == [.priorityNeedsOrder])
        var ordered1 = p1, ordered2 = p2
        ordered1.priorityOrder = 1
        ordered2.priorityOrder = 2
        #expect(checker.conflicts(of: ordered2, with: [ordered1], now: now).isEmpty)
        ordered2.priorityOrder = 1
        #expect(checker.conflicts(of: ordered2, with: [ordered1], now: now).count == 1)  // same rank is no order
    }

    @Test func emergenciesNeverConflictAndQuietHoursRefuseOnlyNormalItems() {
        let checker = ScheduleChecker(directory: directory, quietHours: QuietHours(start: time("21:30"), end: time("05:30")))
        let late = item("LATE", .normal, .once, start: "22:00")
        #expect(checker.conflicts(of: late, with: [], now: now).map(\.kind) == [.quietHours])
        #expect(checker.conflicts(of: item("STORM", .emergency, .once, start: "22:00"), with: [late], now: now).isEmpty)
        #expect(checker.conflicts(of: item("P", .priority, .once, start: "22:00"), with: [], now: now).isEmpty)
        #expect(checker.conflicts(of: item("EARLY", .normal, .daily, start: "05:20", minutes: 20), with: [], now: now)
            .first?.occurrences.count == 90)
    }

    @Test func theHorizonIsConfigurable() throws {
        let checker = ScheduleChecker(directory: directory, horizonDays: 7)
        let c = try #require(checker.conflicts(of: item("B", start: "06:05"), with: [item("A")], now: now).first)
        #expect(c.occurrences.count == 7)
    }
}

@Suite struct PlayoutTests {
    let t = ScheduleTests()
    var window: DateInterval { DateInterval(start: at("2026-11-23", "00:00"), end: at("2026-11-24", "00:00")) }

    func key(_ item: String, _ time: String) -> PlayKey { PlayKey(item: item, start: at("2026-11-23", time)) }

    func plan(_ items: [BroadcastItem]) -> [PlannedPlay] {
        Playout.plan(speaker: "L1", items: items, directory: t.directory, window: window)
    }

    @Test func emergencyInterruptsWhatPlays() {
        let p = plan([t.item("N", .normal, .once, start: "07:00", minutes: 10), t.item("E", .emergency, .once, start: "07:05", minutes: 3)])
        #expect(p.map(\.item) == ["N", "E"])
        #expect(p[0].outcome == .interrupted(by: key("E", "07:05")) && p[0].plays == DateInterval(start: at("2026-11-23", "07:00"), end: at("2026-11-23", "07:05")))
        #expect(p[1].outcome == .plays && p[1].plays?.start == at("2026-11-23", "07:05"))
    }

    @Test func priorityGoesAheadOfNormal() {
        let p = plan([t.item("N", .normal, .once, start: "07:00", minutes: 10), t.item("P", .priority, .once, start: "07:02", minutes: 5),
                      t.item("N2", .normal, .once, start: "07:04", minutes: 5)])
        #expect(p.map(\.outcome) == [.interrupted(by: key("P", "07:02")), .plays, .skipped(by: key("P", "07:02"))])
    }

    @Test func orderedPriorityItemsPlayOneAfterAnother() {
        let p = plan([t.item("P2", .priority, .once, start: "08:00", minutes: 5, order: 2),
                      t.item("P1", .priority, .once, start: "08:00", minutes: 4, order: 1)])
        #expect(p.map(\.item) == ["P1", "P2"])
        #expect(p[1].plays?.start == at("2026-11-23", "08:04") && p[1].outcome == .plays)
    }

    @Test func queuedItemsSurviveAnEmergency() {
        let p = plan([t.item("P1", .priority, .once, start: "08:00", minutes: 10, order: 1),
                      t.item("P2", .priority, .once, start: "08:00", minutes: 5, order: 2),
                      t.item("E", .emergency, .once, start: "08:03", minutes: 2),
                      t.item("P3", .priority, .once, start: "08:04", minutes: 1)])
        let byItem = Dictionary(uniqueKeysWithValues: p.map { ($0.item, $0) })
        #expect(byItem["P1"]?.outcome == .interrupted(by: key("E", "08:03")))
        #expect(byItem["E"]?.plays == DateInterval(start: at("2026-11-23", "08:03"), duration: 120))
        #expect(byItem["P2"]?.plays?.start == at("2026-11-23", "08:05"))  // after the emergency
        #expect(byItem["P3"]?.plays?.start == at("2026-11-23", "08:10"))  // then in arrival order
    }

    @Test func onlyItemsForThisSpeakerCount() {
        let p = plan([t.item("V2", target: BroadcastTarget(villages: ["v2"])), t.item("ALL", .normal, .once, start: "09:00")])
        #expect(p.map(\.item) == ["ALL"])
    }
}

@Suite struct ApprovalTests {
    let t0 = Date(timeIntervalSince1970: 0)
    func user(_ r: Role) -> User { User(name: r.rawValue, role: r, createdAt: t0) }

    @Test func operatorsNeedAnApproverApproversGoStraightOn() {
        #expect(Approval.initialStatus(level: .normal, by: user(.operator)) == .success(.pendingApproval))
        #expect(Approval.initialStatus(level: .priority, by: user(.approver)) == .success(.approved))
        #expect(Approval.initialStatus(level: .normal, by: user(.admin)) == .success(.approved))
        for r in [Role.technician, .viewer] {
            #expect(Approval.initialStatus(level: .normal, by: user(r)) == .failure(.notAllowed(user: r.rawValue, role: r, action: .schedule)))
        }
    }

    @Test func onlyThoseWhoCouldApproveSendEmergencies() {
        #expect(Approval.initialStatus(level: .emergency, by: user(.approver)) == .success(.approved))
        if case .failure(let e) = Approval.initialStatus(level: .emergency, by: user(.operator)) {
            #expect(e.description.contains("khẩn cấp"))
        } else { Issue.record("operator sent an emergency") }
    }

    @Test func approveAndCancelFollowTheStatus() {
        #expect(Approval.approve(.pendingApproval, item: "B1", by: user(.approver)) == .success(.approved))
        #expect(Approval.approve(.approved, item: "B1", by: user(.approver)) == .failure(.wrongStatus(item: "B1", status: .approved, action: .approve)))
        if case .success = Approval.approve(.pendingApproval, item: "B1", by: user(.operator)) { Issue.record("operator approved") }
        #expect(Approval.cancel(.approved, item: "B1", by: user(.operator)) == .success(.cancelled))
        if case .success = Approval.cancel(.cancelled, item: "B1", by: user(.admin)) { Issue.record("cancelled twice") }
        if case .success = Approval.cancel(.approved, item: "B1", by: user(.viewer)) { Issue.record("viewer cancelled") }
    }

    @Test func streamsMustBeHTTP() {
        #expect(Programme.validStreamURL("http://radio.quangninh.gov.vn:8000/live"))
        #expect(Programme.validStreamURL("https://example.vn/stream.mp3"))
        #expect(!Programme.validStreamURL("rtsp://cam/1") && !Programme.validStreamURL("not a url") && !Programme.validStreamURL("http://"))
    }
}

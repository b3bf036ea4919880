import Foundation
import Hummingbird
import WardController
import WardDomain
import WardStorage

/// Editing items, speaker groups, quiet hours and the upstream inbox.
extension OperatorAPI {
    struct GroupBody: Decodable { var speakers: [String] }
    struct QuietBody: Decodable { var from: String; var to: String }
    struct Dismiss: Decodable { var reason: String? }

    /// What an edit body changes: each timing field given replaces only that part of the item's
    /// timing (a new `day` alone keeps the time and the repetition).
    static func edit(_ b: ScheduleBody) throws -> BroadcastService.Edit {
        let target = Self.target(b)
        let timing: RecurrenceChange
        do { timing = try Self.recurrenceInput(b).change() } catch { throw APIError(.badRequest, error.description) }
        return BroadcastService.Edit(title: b.title, timing: timing.isEmpty ? nil : timing,
                                     target: target.isEmpty ? nil : target, volume: b.volume, priorityOrder: b.priorityOrder)
    }

    static let editKeys: Set<String> = ["title", "day", "time", "repeat", "on", "until", "skip", "communes", "villages", "groups", "speakers",
                                        "volume", "priority_order"]

    /// A bulletin already scheduled or dismissed conflicts with scheduling or dismissing it again.
    /// A bulletin is each addressed commune's to handle: one sent to none of the caller's
    /// communes is not found (404); one their communes have all handled is not theirs to handle
    /// again (409); the others it was sent to keep it in their inbox.
    func requireOpen(_ call: Call, _ b: UpstreamBulletin) throws {
        try requireVisible(call, communes: Set(b.communes), UpstreamStoreError.unknown(b.id))
        let mine = call.principal!.communes.map { Set(b.communes).intersection($0) } ?? Set(b.communes)
        guard b.status == .inbox, !mine.subtracting(try UpstreamRepository(database).handling(b.id).keys).isEmpty else {
            throw APIError(.conflict, "bản tin nguồn #\(b.id) đã được xử lý / upstream bulletin #\(b.id) was handled already")
        }
    }

    func requireLibrary() throws -> MediaLibrary {
        guard let library else { throw APIError(.serviceUnavailable, "máy chủ này không có thư viện / no media library here") }
        return library
    }

    var radioRoutes: [Route] {
        let db = database
        return [
            Route(method: .patch, path: "/api/v1/broadcasts/{id}", permission: .schedule) { call in
                let id = try call.parameter("id")
                let b = try Self.decode(ScheduleBody.self, call.body, allowed: Self.editKeys)
                try Self.checkTexts(b)
                let r = try self.resolver()
                let item = try BroadcastRepository(db).get(id)
                try self.requireVisible(call, communes: r.communes(of: item.item.target), BroadcastStoreError.unknownItem(id))
                let edit = try Self.edit(b)
                // Both where it plays now and where it would play after the edit must be the user's.
                try self.requireScope(call, communes: r.communes(of: item.item.target).union(edit.target.map(r.communes(of:)) ?? []))
                let done = try BroadcastService(db, clock: self.clock).edit(id, edit, by: call.user.name)
                try self.audit(call, "broadcast.edit", target: id, detail: b.title, before: ItemState(item), after: ItemState(done))
                return try Self.json(done)
            },
            Route(method: .get, path: "/api/v1/broadcasts/{id}/delivery", permission: .view) { call in
                // How one play of an item reaches its speakers (n / N), for a console following an
                // emergency live: refetched on each SSE `playback` event naming the item.
                let id = try call.parameter("id")
                let item = try BroadcastRepository(db).get(id)
                try self.requireVisible(call, communes: try self.resolver().communes(of: item.item.target), BroadcastStoreError.unknownItem(id))
                // The play's scheduled start in Unix milliseconds (the number after @ in its play id).
                let start = try call.integer("start", in: 0...253_402_300_799_999).map { Date(timeIntervalSince1970: Double($0) / 1000) }
                return try Self.json(try DeliveryStatus.build(db, item: item, start: start, communes: call.principal!.communes, now: self.clock.now()))
            },
            Route(method: .get, path: "/api/v1/groups", permission: .view) { call in
                let r = try self.resolver()
                // A limited caller sees the groups that lie wholly in their communes.
                return try Self.json(try BroadcastRepository(db).groups().filter { _, speakers in
                    call.principal!.communes.map { r.communes(of: BroadcastTarget(speakers: Array(speakers))).isSubset(of: $0) } ?? true
                }.mapValues { $0.sorted() })
            },
            Route(method: .put, path: "/api/v1/groups/{name}", permission: .schedule) { call in
                let name = try call.parameter("name").removingPercentEncoding ?? ""
                let b = try Self.decode(GroupBody.self, call.body, allowed: ["speakers"])
                let r = try self.resolver()
                // The group as it is now must be the caller's too: a name is no way into another commune's group.
                let existing = Array(try BroadcastRepository(db).groups()[name] ?? [])
                if let mine = call.principal!.communes, !r.communes(of: BroadcastTarget(speakers: existing)).isSubset(of: mine) {
                    throw APIError(.conflict, "tên nhóm \(name) đã được dùng / the group name \(name) is taken")
                }
                try self.requireScope(call, communes: r.communes(of: BroadcastTarget(speakers: b.speakers)))
                try BroadcastService(db, clock: self.clock).setGroup(name, speakers: b.speakers, by: call.user.name)
                try self.audit(call, "group.set", target: name, detail: b.speakers.joined(separator: ","),
                               before: ["speakers": existing.sorted()], after: ["speakers": b.speakers.sorted()])
                return try Self.json(["group": name, "speakers": b.speakers.joined(separator: ",")])
            },
            Route(method: .get, path: "/api/v1/quiet-hours/{commune}", permission: .view) { call in
                let c = try call.parameter("commune")
                guard try self.tree()[c]?.level == .commune, call.principal!.covers(commune: c) else {
                    throw APIError(.notFound, "không có xã \(c) / no commune \(c)")
                }
                let q = try BroadcastRepository(db).quietHours(commune: c)
                return try Self.json(["commune": c, "from": q.map { "\($0.start)" } ?? "", "to": q.map { "\($0.end)" } ?? ""])
            },
            Route(method: .put, path: "/api/v1/quiet-hours/{commune}", permission: .approve) { call in
                let c = try call.parameter("commune")
                guard try self.tree()[c]?.level == .commune, call.principal!.covers(commune: c) else {
                    throw APIError(.notFound, "không có xã \(c) / no commune \(c)")
                }
                let b = try Self.decode(QuietBody.self, call.body, allowed: ["from", "to"])
                try APIInput.time(b.from, field: "from")
                try APIInput.time(b.to, field: "to")
                guard let f = LocalTime(b.from), let t = LocalTime(b.to) else { throw APIError(.badRequest, "from, to: HH:MM") }
                let old = try BroadcastRepository(db).quietHours(commune: c)
                try BroadcastRepository(db).setQuietHours(commune: c, QuietHours(start: f, end: t))
                try self.audit(call, "quiet_hours.set", target: c, detail: "\(f)–\(t)",
                               before: ["from": old.map { "\($0.start)" } ?? "", "to": old.map { "\($0.end)" } ?? ""],
                               after: ["from": "\(f)", "to": "\(t)"])
                // They apply to everything not yet played: the answer says what they now hold back.
                struct Answer: Encodable { var commune, from, to: String; var blocked: [BroadcastService.QuietHoursBlock] }
                let blocked = try BroadcastService(db, clock: self.clock).blockedByQuietHours(commune: c, QuietHours(start: f, end: t))
                return try Self.json(Answer(commune: c, from: "\(f)", to: "\(t)", blocked: blocked))
            },
            Route(method: .delete, path: "/api/v1/quiet-hours/{commune}", permission: .approve) { call in
                let c = try call.parameter("commune")
                guard try self.tree()[c]?.level == .commune, call.principal!.covers(commune: c) else {
                    throw APIError(.notFound, "không có xã \(c) / no commune \(c)")
                }
                let old = try BroadcastRepository(db).quietHours(commune: c)
                try BroadcastRepository(db).setQuietHours(commune: c, nil)
                try self.audit(call, "quiet_hours.remove", target: c,
                               before: ["from": old.map { "\($0.start)" } ?? "", "to": old.map { "\($0.end)" } ?? ""], after: ["from": "", "to": ""])
                return try Self.json(["commune": c, "from": "", "to": ""])
            },
            Route(method: .post, path: "/api/v1/inbox/{id}/schedule", permission: .schedule) { call in
                guard let id = Int64(try call.parameter("id")) else { throw APIError(.badRequest, "id: số / a number") }
                let b = try Self.decode(ScheduleBody.self, call.body, allowed: Self.editKeys.subtracting(["title", "priority_order"]))
                guard b.day != nil || b.time != nil else { throw APIError(.badRequest, "day, time: cần ngày giờ phát / when to play") }
                let bulletin = try UpstreamRepository(db).get(id)
                try self.requireOpen(call, bulletin)
                let target = Self.target(b)
                if !target.isEmpty { try self.requireScope(call, communes: try self.resolver().communes(of: target)) }
                let upstream = UpstreamService(database: db, library: try self.requireLibrary(), clock: self.clock)
                let item = try upstream.schedule(id, recurrence: try Self.recurrence(b), target: target.isEmpty ? nil : target, volume: b.volume,
                                                 by: call.user.name)
                try self.audit(call, "inbox.schedule", target: "#\(id)", detail: item.id)
                return try Self.json(item, status: .created)
            },
            Route(method: .post, path: "/api/v1/inbox/{id}/dismiss", permission: .schedule) { call in
                guard let id = Int64(try call.parameter("id")) else { throw APIError(.badRequest, "id: số / a number") }
                let b = call.body.readableBytes == 0 ? Dismiss() : try Self.decode(Dismiss.self, call.body, allowed: ["reason"])
                try self.requireOpen(call, try UpstreamRepository(db).get(id))
                try UpstreamService(database: db, library: try self.requireLibrary(), clock: self.clock).dismiss(id, by: call.user.name, reason: b.reason)
                try self.audit(call, "inbox.dismiss", target: "#\(id)", detail: b.reason)
                return try Self.json(["dismissed": id])
            },
        ]
    }

    /// What an edit of a scheduled item can change, as the audit log records it before and after.
    struct ItemState: Encodable {
        var title: String
        var status: BroadcastStatus
        var recurrence: Recurrence
        var target: BroadcastTarget
        var volume: Int?
        var priorityOrder: Int?

        init(_ b: ScheduledBroadcast) {
            title = b.item.title
            status = b.status
            recurrence = b.item.recurrence
            target = b.item.target
            volume = b.item.volume
            priorityOrder = b.item.priorityOrder
        }
    }
}

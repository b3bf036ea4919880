import Foundation
import WardDomain
import WardStorage

/// What an approver changes in a warning in force: the words read aloud and how long it stays in force.
/// Left out: as it was.
public struct WarningEdit: Sendable, Equatable {
    public var headline: String?
    public var description: String?
    public var instruction: String?
    public var expires: Date?
    public var reason: String?

    public init(headline: String? = nil, description: String? = nil, instruction: String? = nil, expires: Date? = nil, reason: String? = nil) {
        self.headline = headline
        self.description = description
        self.instruction = instruction
        self.expires = expires
        self.reason = reason
    }

    public var isEmpty: Bool { headline == nil && description == nil && instruction == nil && expires == nil }
}

/// Why an approver's update of a warning was refused.
public enum WarningUpdateRefusal: Refusal, Equatable {
    case notInForce(Int64, WarningRecord.State)
    case nothingChanged
    case noDocument(Int64)
    case noVietnameseInfo(Int64)

    public var description: String {
        switch self {
        case .notInForce(let id, let s): "cảnh báo \(id) không còn hiệu lực (\(s.vietnamese)) / warning \(id) is not in force (\(s.rawValue))"
        case .nothingChanged: "không có gì thay đổi: cho nội dung hoặc thời hạn mới / nothing to change: give new text or a new expiry"
        case .noDocument(let id): "cảnh báo \(id) không còn bản CAP gốc / warning \(id) has no stored CAP document"
        case .noVietnameseInfo(let id): "cảnh báo \(id) không có phần tiếng Việt / warning \(id) has no Vietnamese info"
        }
    }
}

extension WarningService {
    /// An approver updates a warning in force from WardFleet (console, API): WardFleet writes a CAP Update
    /// of the stored alert — same sender, the approver's changes in its Vietnamese `info`, the approver
    /// named in `note` — and it takes the path any Update from the source takes: the queued repeats are
    /// replaced without a gap or a double play, an emergency goes on air again at once with the new
    /// words. The update belongs to the alert's source (its Acks go there too), and says who made it.
    public func update(_ id: Int64, by userName: String, _ edit: WarningEdit) async throws -> WarningRecord {
        let user = try BroadcastRepository(db).user(userName)
        guard user.role.canApprove else { throw ApprovalError.notAllowed(user: user.name, role: user.role, action: .approve) }
        guard !edit.isEmpty else { throw WarningUpdateRefusal.nothingChanged }
        let repo = WarningRepository(db)
        let w = try repo.get(id)
        guard w.state == .active, w.msgType != .cancel else { throw WarningUpdateRefusal.notInForce(id, w.state) }
        guard let text = try repo.document(id), let original = try? CAPXML.alert(from: Data(text.utf8)) else {
            throw WarningUpdateRefusal.noDocument(id)
        }
        guard let vi = original.infos.firstIndex(where: \.isVietnamese) else { throw WarningUpdateRefusal.noVietnameseInfo(id) }
        let now = clock.now()
        let sent = CAPTime(date: Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down)), offset: 25_200)
        var alert = original
        alert.identifier = "\(original.identifier).wf\(Int(sent.date.timeIntervalSince1970))"
        alert.sent = sent
        alert.msgType = .update
        alert.references = [CAPReference(sender: original.sender, identifier: original.identifier, sent: original.sent)]
        let by = "Cập nhật trên WardFleet bởi \(user.displayName) (\(user.name))"
        alert.note = (edit.reason.map { "\(by): \($0)" } ?? by).nfc
        func cleaned(_ s: String?) -> String? {
            s.map { $0.trimmingCharacters(in: .whitespacesAndNewlines).nfc }.flatMap { $0.isEmpty ? nil : $0 }
        }
        if let h = edit.headline { alert.infos[vi].headline = cleaned(h) }
        if let d = edit.description { alert.infos[vi].description = cleaned(d) }
        if let i = edit.instruction { alert.infos[vi].instruction = cleaned(i) }
        if let e = edit.expires {
            let until = CAPTime(date: Date(timeIntervalSince1970: e.timeIntervalSince1970.rounded(.down)), offset: 25_200)
            for k in alert.infos.indices { alert.infos[k].expires = until }
        }
        // The same words and expiry again would only put the same warning on air twice.
        guard alert.infos != original.infos else { throw WarningUpdateRefusal.nothingChanged }
        let (record, _) = try await accept(Data(CAPWriter.xml(alert).utf8), from: w.sourceUser)
        tally("updated.operator")
        return record
    }
}

import Foundation
import WardController
import WardDomain
import WardStorage

/// What a caller limited to communes may see and change beyond devices and places, which carry
/// their commune: people, the media library, the audit log, deployment-wide settings.
/// Every route that reads or changes fleet data goes through `Principal.covers` or these; the
/// scope test walks the route table to prove it.
extension OperatorAPI {
    /// The users a caller may see and manage: everyone (nil) for a caller without a limit; for a
    /// limited caller, themselves and the users limited to some of the caller's own communes.
    func visibleUsers(_ call: Call) throws -> Set<String>? {
        guard let mine = call.principal!.communes else { return nil }
        let limits = try AuthRepository(database).communeLimits()
        return Set(limits.compactMap { name, limit in
            name == call.user.name || (limit.map { !$0.isEmpty && $0.isSubset(of: mine) } ?? false) ? name : nil
        })
    }

    /// 404 for a user the caller may not see, as for devices of other communes.
    func requireVisibleUser(_ call: Call, _ name: String) throws {
        guard try visibleUsers(call).map({ $0.contains(name) }) ?? true else {
            throw APIError(.notFound, "không có người dùng \(name) / no user \(name)")
        }
    }

    /// The commune limit a caller may give someone: any for an unlimited caller; otherwise a
    /// non-empty part of the caller's own (a limited admin cannot make an unlimited user).
    func checkedLimit(_ call: Call, _ communes: [String]?) throws -> [String]? {
        let tree = try self.tree()
        let limit = try communes.flatMap { $0.isEmpty ? nil : try CommuneLimitError.check($0, in: tree) }
        if let mine = call.principal!.communes {
            guard let limit, Set(limit).isSubset(of: mine) else {
                throw APIError(.forbidden, "chỉ giao được các xã của bạn: \(mine.sorted().joined(separator: ", ")) / you can only give your own communes")
            }
        }
        return limit
    }

    /// Commune ids as the document declares them (400); a name typed instead of an id gets the
    /// id suggested in the same words the stored-state check uses.
    func communeIdentifiers(_ communes: [String]?) throws {
        guard let communes, communes.contains(where: { !APIInput.isIdentifier($0) }) else { return }
        let tree = try self.tree()
        do { _ = try CommuneLimitError.check(communes, in: tree) } catch { throw APIError(.badRequest, error.description) }
    }

    /// A commune named in a query or body must be one (422 otherwise, not an empty answer).
    func requireKnownCommune(_ id: String?) throws {
        guard let id, try tree()[id]?.level != .commune else { return }
        throw APIError(.unprocessableContent, "không có xã \(id) / no commune \(id)")
    }

    /// Settings that apply to every commune of the deployment (alarm rules, KPI targets) are
    /// changed by people without a commune limit.
    func requireUnlimited(_ call: Call) throws {
        guard call.principal!.communes == nil else {
            throw APIError(.forbidden, "cấu hình chung của mọi xã: cần người dùng không giới hạn xã / deployment-wide settings need a user without a commune limit")
        }
    }

    /// Media a limited caller may see: what they or the people of their communes added (shown
    /// with their own title, whoever added the same bytes first), and what is on air or in the
    /// inbox for their communes. Everything else of the library is not even found by hash.
    func visibleMedia(_ call: Call, _ items: [MediaItem]) throws -> [MediaItem] {
        guard let mine = call.principal!.communes else { return items }
        let people = try visibleUsers(call) ?? []
        let r = try resolver()
        var used = Set<String>()
        for b in try BroadcastRepository(database).list(includeCancelled: true) where !r.communes(of: b.item.target).isDisjoint(with: mine) {
            if case .media(let sha) = b.programme { used.insert(sha) }
        }
        for u in try UpstreamRepository(database).list(all: true) where !Set(u.communes).isDisjoint(with: mine) {
            if case .media(let sha) = u.programme { used.insert(sha) }
        }
        let adders = try MediaRepository(database).adders()
        return items.compactMap { m in
            if m.addedBy.map(people.contains) == true { return m }
            if let a = adders[m.sha256]?.first(where: { people.contains($0.user) }) {
                var own = m
                own.title = a.title
                own.addedBy = a.user
                own.addedAt = a.at
                if case .upload = m.source { own.source = .upload(fileName: a.title) }  // the first uploader's file name is theirs
                return own
            }
            return used.contains(m.sha256) ? m : nil
        }
    }
}

import Foundation

/// An API token as people see it: never the secret (only its hash is stored), but a public id to
/// name it by, what it is for, and when it was made, last used and stops working.
public struct APIToken: Sendable, Hashable, Codable {
    /// Public and stable: how a token is listed and revoked. Not derived from the secret.
    public var id: String
    public var user: String
    public var name: String
    public var createdAt: Date
    public var lastUsed: Date?
    /// nil: until revoked.
    public var expiresAt: Date?

    public init(id: String, user: String, name: String, createdAt: Date, lastUsed: Date? = nil, expiresAt: Date? = nil) {
        self.id = id
        self.user = user
        self.name = name
        self.createdAt = createdAt
        self.lastUsed = lastUsed
        self.expiresAt = expiresAt
    }

    /// Expired at `now` (the instant of expiry included).
    public func isExpired(at now: Date) -> Bool { expiresAt.map { $0 <= now } ?? false }

    /// How long a token may be asked to last: from a day to ten years.
    public static let validDays: ClosedRange<Int> = 1...3650
    /// What a token may be called: 1 to 100 characters.
    public static let nameLength: ClosedRange<Int> = 1...100

    /// A fresh public id: 16 hex digits after "tok-", a valid path segment and identifier.
    public static func newID() -> String {
        var g = SystemRandomNumberGenerator()
        return "tok-" + String(format: "%016llx", g.next() as UInt64)
    }

    /// A token as it is listed (API and CLI): never its secret, never whose it is beyond the list.
    public struct Listing: Encodable, Sendable {
        public var id: String
        public var name: String
        public var createdAt: Date
        public var lastUsed: Date?
        public var expiresAt: Date?
        public var expired: Bool
    }

    public func listing(at now: Date) -> Listing {
        Listing(id: id, name: name, createdAt: createdAt, lastUsed: lastUsed, expiresAt: expiresAt, expired: isExpired(at: now))
    }
}

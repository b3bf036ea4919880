import Foundation
import WardDomain
import WardStorage

/// Why a device was not removed.
public struct DeviceRemovalRefusal: Refusal {
    public var description: String
    public var code: String
}

/// Removing a device, one path for the CLI and the API. Its broker account goes first (the
/// broker disconnects it), so a removed device cannot reconnect with its old password and land
/// in the pending list; then the registration (its history is kept) and its unused claim code.
public struct DeviceRemoval: Sendable {
    let db: WardDatabase
    /// The broker's accounts when the deployment has per-device accounts (dynamic security);
    /// nil on a broker without accounts, where there is nothing to revoke.
    let accounts: (any DeviceAccounts)?

    public init(_ db: WardDatabase, accounts: (any DeviceAccounts)?) {
        self.db = db
        self.accounts = accounts
    }

    /// Removes an active device; true when its broker account was revoked as well.
    @discardableResult
    public func remove(_ id: String, at now: Date) async throws -> Bool {
        guard try DeviceRepository(db).get(id).map({ $0.removedAt == nil }) == true else {
            throw DeviceRemovalRefusal(description: "không có thiết bị đang hoạt động '\(id)' / no active device '\(id)'", code: "not_found")
        }
        if let accounts {
            do {
                try await accounts.revoke(device: id)
            } catch {
                // Nothing changed: removing it while its account still works would let it back in.
                throw DeviceRemovalRefusal(
                    description: "chưa thu hồi được tài khoản MQTT của \(id), thiết bị chưa bị gỡ; thử lại khi máy chủ MQTT hoạt động / could not revoke \(id)'s broker account, the device is not removed; retry when the broker is up (\(error))",
                    code: "broker_unavailable")
            }
        }
        _ = try DeviceRepository(db).remove(id, at: now)
        try ClaimRepository(db).withdraw(device: id)
        try FleetConfigRepository(db).deleteSecret(device: id)  // its sealed password (rotations) goes too
        return accounts != nil
    }
}

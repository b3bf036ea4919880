import Foundation
import HTTPTypes
import Hummingbird
import WardController
import WardDomain
import WardStorage

/// The controller nodes of a cluster (`wardfleet nodes`): who owns which commune, lease ages,
/// broker links; asking a node to hand its communes over, and taking it back into service.
extension OperatorAPI {
    var nodeRoutes: [Route] {
        let db = database
        return [
            // Any signed-in person may see whether their communes are looked after; a user limited
            // to communes sees every node but only their own communes on it (and among the unowned).
            Route(method: .get, path: "/api/v1/nodes", permission: .view) { call in
                try Self.json(try ClusterView.read(db, now: self.clock.now(), scope: call.principal!.communes))
            },
            Route(method: .post, path: "/api/v1/nodes/{id}/drain", permission: .configure) { call in try self.setDraining(call, true) },
            Route(method: .post, path: "/api/v1/nodes/{id}/undrain", permission: .configure) { call in try self.setDraining(call, false) },
        ]
    }

    /// Drain: the node hands every commune to the others at its next renewal (and keeps running);
    /// undrain takes it back into service. A node moves communes of every commune's people, so it
    /// takes a user without a commune limit.
    func setDraining(_ call: Call, _ draining: Bool) throws -> Response {
        try requireUnlimited(call)
        let id = try call.parameter("id")
        let repo = ClusterRepository(database)
        guard let before = try repo.nodes().first(where: { $0.id == id }), try repo.setDraining(node: id, draining) else {
            throw APIError(.notFound, "không có nút \(id) / no node \(id)")
        }
        struct State: Encodable { var draining: Bool }
        try audit(call, draining ? "node.drain" : "node.undrain", target: id, before: State(draining: before.draining), after: State(draining: draining))
        guard let node = try ClusterView.read(database, now: clock.now()).nodes.first(where: { $0.id == id }) else {
            throw APIError(.notFound, "không có nút \(id) / no node \(id)")
        }
        return try Self.json(node)
    }
}

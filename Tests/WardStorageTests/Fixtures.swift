import FleetFile
import Foundation
import WardDomain
@testable import WardStorage

/// A fresh database of `backend` holding the sample commune of `yaml` (places and devices).
func fleetDB(_ backend: Backend) throws -> WardDatabase {
    let db = try backend.open()
    let f = try FleetFileReader.parseYAML(yaml, registeredAt: t0)
    try PlaceRepository(db).upsert(f.places)
    try DeviceRepository(db).upsert(f.devices)
    return db
}

/// Whole milliseconds after `t0`, as stored.
func at(_ seconds: Double) -> Date { Date(millis: t0.millis + Int64((seconds * 1000).rounded())) }

func window(_ from: Double, _ to: Double) -> DateInterval { DateInterval(start: at(from), end: at(to)) }

/// Encodes and decodes: the value as JSON storage gives it back (sets keep no order).
func roundTripped<T: Codable>(_ v: T) -> T { JSONText.decode(T.self, JSONText.encode(v))! }

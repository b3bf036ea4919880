import Foundation
import Logging
import WardProtocol
import WardStorage

/// Which speakers announce their commune's emergency topic (`Topics.emergencyCapability` in the
/// capabilities of their latest stored birth), for a delivery without a live source (the
/// controller's ingest is one). Keeps what it decoded: a birth changes only when its device
/// reconnects, so a read of thousands of speakers decodes only the few that did.
struct CapabilityReader {
    private var known: [String: (birth: String, capable: Bool)] = [:]

    /// Nil when storage could not be read (the caller keeps what it had).
    mutating func read(_ db: WardDatabase, logger: Logger) -> Set<String>? {
        do {
            // The quotes make the text a JSON string of its own (a capability), not part of a longer one.
            let births = try HealthQueries(db).births(containing: "\"\(Topics.emergencyCapability)\"")
            var fresh: [String: (birth: String, capable: Bool)] = [:]
            for (id, birth) in births {
                if let k = known[id], k.birth == birth {
                    fresh[id] = k
                } else {
                    fresh[id] = (birth, Birth.stored(birth)?.capabilities.contains(Topics.emergencyCapability) == true)
                }
            }
            known = fresh
            return Set(fresh.compactMap { $0.value.capable ? $0.key : nil })
        } catch {
            logger.warning("cannot read which speakers take the commune emergency topic: \(error)")
            return nil
        }
    }
}

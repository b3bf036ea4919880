/// An error that refuses what someone asked for, in words they can act on (Vietnamese / English):
/// the asker's to fix, not a fault of the system. Adapters pass the words on as they are (the
/// API answers 422 Unprocessable Content with them; the CLI prints them).
public protocol Refusal: Error, CustomStringConvertible {}

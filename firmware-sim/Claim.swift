import ArgumentParser
import Foundation
import MQTTClient
import WardProtocol

/// The device side of a one-time claim code (protocol §7), as a field device's setup screen
/// would do it: connect with the shared claim account, ask once, open the sealed answer.
struct Claim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Nhận tài khoản MQTT bằng mã một lần / Claim a device's broker account with its one-time code.")

    @Option(help: "Broker HOST:PORT.") var broker = "127.0.0.1:1883"
    @Option(help: "CA certificate (PEM) for TLS.") var cafile: String?
    @Option(help: "Device id.") var device: String
    @Option(help: "The one-time code, as printed (XXXX-XXXX-XXXX).") var code: String
    @Option(help: "Shared claim account.") var username = "wardfleet-claim"
    @Option(help: "Its password (or $WARDFLEET_CLAIM_PASSWORD).") var password: String?
    @Option(help: "Write the credentials here as JSON (mode 0600); without it they are printed.") var out: String?
    @Option(help: "Seconds to wait for the answer.") var timeout: Double = 20

    func run() async throws {
        guard let secret = ClaimCode.secret(code) else {
            throw ValidationError("mã không hợp lệ / not a claim code: expected 12 characters like ABCD-EFGH-JKMN")
        }
        let (host, port) = try parseBroker(broker)
        var cfg = MQTTConfiguration(host: host, port: port, clientID: "claim-\(device)-\(UInt32.random(in: 0...UInt32.max))")
        cfg.username = username
        cfg.password = password ?? ProcessInfo.processInfo.environment["WARDFLEET_CLAIM_PASSWORD"]
        cfg.caFile = cafile
        let client = try MQTTClient(cfg)
        defer { client.disconnect() }
        try client.subscribe(Topics.claimResponse(device), qos: 1)
        try await client.connect()
        // The subscription goes out on connect, before the request on the same connection: the
        // broker handles them in order, so the answer cannot come before we listen.
        let nonce = ClaimCrypto.newNonce()
        try client.publish(MQTTMessage(topic: Topics.claimRequest(device), payload: ProtocolEncoder.encode(
            ClaimRequest(device: device, secret: secret, nonce: nonce)), qos: 1, retained: false))
        // No answer in time: closing the connection ends the message stream below.
        let timer = Task {
            try? await Task.sleep(for: .seconds(timeout))
            client.disconnect()
        }
        defer { timer.cancel() }
        while let batch = await client.messages.nextBatch() {
            for m in batch {
                guard let r = try? JSONDecoder().decode(ClaimResponse.self, from: Data(m.payload)), r.device == device,
                      r.nonce == nonce else { continue }
                switch r.result {
                case .refused:
                    throw ClaimRefused(reason: r.reason, retryAfter: r.retryAfter)
                case .ok:
                    guard let sealed = r.sealed, let c = ClaimCrypto.open(sealed, secret: secret, device: device, nonce: r.nonce) else {
                        throw ValidationError("câu trả lời không mở được bằng mã này / the answer does not open with this code")
                    }
                    let json = String(decoding: ProtocolEncoder.encode(c), as: UTF8.self)
                    if let out {
                        FileManager.default.createFile(atPath: out, contents: nil, attributes: [.posixPermissions: 0o600])
                        try (json + "\n").write(toFile: out, atomically: false, encoding: .utf8)
                        print("Đã nhận tài khoản / account received: \(c.username) → \(out)")
                    } else {
                        print(json)
                    }
                    return
                }
            }
        }
        throw ValidationError("không có trả lời trong \(Int(timeout)) s (bộ điều khiển chạy với --accept-claims?) / no answer within \(Int(timeout)) s (is the controller run with --accept-claims?)")
    }
}

struct ClaimRefused: Error, CustomStringConvertible {
    var reason: ClaimResponse.Reason?
    var retryAfter: Int?
    var description: String {
        let wait = retryAfter.map { " (\($0) s)" } ?? ""
        let why: String = switch reason {
        case .noCode: "thiết bị không có mã / no code was issued for this device"
        case .used: "mã đã được dùng / the code was already used"
        case .expired: "mã đã hết hạn / the code has expired"
        case .wrongCode: "sai mã / wrong code" + (retryAfter.map { "; lần thử sau chờ \($0) s / the next try waits \($0) s" } ?? "")
        case .locked: "nhiều lần sai mã liên tiếp: thử lại sau\(wait) / wrong codes in a row: try again later\(wait)"
        case .tryAgain: "máy chủ chưa tạo được tài khoản; thử lại / the server could not make the account yet: try again"
        case nil: "bị từ chối / refused"
        }
        return "claim refused: \(reason?.rawValue ?? "refused") — \(why)"
    }
}

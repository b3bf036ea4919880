import Testing
import WardDomain

/// The API answers in one language: the project's "tiếng Việt / English" messages split in two.
@Suite struct BilingualTests {
    @Test(arguments: [
        ("không có thiết bị / no device loa-1", "không có thiết bị", "no device loa-1"),
        // Dates and paths carry slashes without spaces round them.
        ("tài khoản tạm khóa đến 21/11/2026 21:46 / account locked until then", "tài khoản tạm khóa đến 21/11/2026 21:46",
         "account locked until then"),
        ("không đọc được /var/lib/wardfleet/media/a.wav / cannot read /var/lib/wardfleet/media/a.wav",
         "không đọc được /var/lib/wardfleet/media/a.wav", "cannot read /var/lib/wardfleet/media/a.wav"),
        // A slash with spaces inside brackets or quotes is part of a value.
        ("lỗi bộ khuếch đại (amply / loa) / amplifier fault (amp / speaker)", "lỗi bộ khuếch đại (amply / loa)",
         "amplifier fault (amp / speaker)"),
        ("tên \"A / B\" đã dùng / the name \"A / B\" is taken", "tên \"A / B\" đã dùng", "the name \"A / B\" is taken"),
        // The last separator: the Vietnamese half may quote English.
        ("nội dung quá lớn (tối đa 1 MiB) / body too large (1 MiB at most)", "nội dung quá lớn (tối đa 1 MiB)", "body too large (1 MiB at most)"),
        // A leading field name belongs to both halves.
        ("title: 1–200 ký tự, không chỉ khoảng trắng / 1–200 characters, not only spaces",
         "title: 1–200 ký tự, không chỉ khoảng trắng", "title: 1–200 characters, not only spaces"),
        ("day, time: cần ngày giờ phát / when to play", "day, time: cần ngày giờ phát", "day, time: when to play"),
        ("volume: âm lượng 0…100 / volume 0…100", "volume: âm lượng 0…100", "volume: volume 0…100"),
        // Without a separator the message is the same in both.
        ("voice: northern, central, southern", "voice: northern, central, southern", "voice: northern, central, southern"),
        ("seconds: 1…60", "seconds: 1…60", "seconds: 1…60"),
        ("'x y' không phải mã hợp lệ / is not a valid id", "'x y' không phải mã hợp lệ", "is not a valid id"),
        ("lỗi máy chủ / server error", "lỗi máy chủ", "server error"),
    ])
    func splitsOnTheLastTopLevelSeparator(message: String, vi: String, en: String) {
        let (v, e) = Bilingual.split(message)
        #expect(v == vi)
        #expect(e == en)
    }

    @Test func acceptLanguagePicksTheMostWantedOfVietnameseAndEnglish() {
        #expect(MessageLanguage.preferred(acceptLanguage: nil) == .vi)
        #expect(MessageLanguage.preferred(acceptLanguage: "") == .vi)
        #expect(MessageLanguage.preferred(acceptLanguage: "fr-FR, de") == .vi)
        #expect(MessageLanguage.preferred(acceptLanguage: "en-US,en;q=0.9") == .en)
        #expect(MessageLanguage.preferred(acceptLanguage: "vi-VN,vi;q=0.9,en-US;q=0.8,en;q=0.7") == .vi)
        #expect(MessageLanguage.preferred(acceptLanguage: "fr;q=1, en;q=0.5, vi;q=0.4") == .en)
        #expect(MessageLanguage.preferred(acceptLanguage: "vi;q=0.2, EN;q=0.8") == .en)
        #expect(MessageLanguage.preferred(acceptLanguage: "en;q=0, vi;q=0.1") == .vi)
        #expect(MessageLanguage.preferred(acceptLanguage: "mul") == .both)
        #expect(MessageLanguage(query: "en") == .en && MessageLanguage(query: "xx") == nil)
        #expect(MessageLanguage.both.pick("a / b") == "a / b")
        #expect(MessageLanguage.en.pick("a / b") == "b")
    }

    /// A heading and a list (a schedule refused for its conflicts) is picked line by line.
    @Test func severalLinesArePickedLineByLine() {
        let m = "Không thể lên lịch: / cannot schedule:\n  • A trùng giờ với B lúc 06:00. / A overlaps B at 06:00.\n  • C cần thứ tự. / C needs an order."
        #expect(MessageLanguage.vi.pick(m) == "Không thể lên lịch:\n  • A trùng giờ với B lúc 06:00.\n  • C cần thứ tự.")
        #expect(MessageLanguage.en.pick(m) == "cannot schedule:\n  • A overlaps B at 06:00.\n  • C needs an order.")
        #expect(MessageLanguage.both.pick(m) == m)
    }
}

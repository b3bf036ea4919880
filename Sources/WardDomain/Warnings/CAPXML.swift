import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Reads a CAP document with Foundation's `XMLParser` (libxml2's SAX parser), refusing hostile ones
/// before they cost anything:
/// - larger than `maxBytes` (checked before parsing);
/// - not UTF-8 (CAP is UTF-8; a UTF-16 byte-order mark is refused);
/// - any document type declaration (`<!DOCTYPE …>`): CAP has no DTD, and without one there are no entity
///   declarations to expand and no external entities to fetch. The prolog (what precedes the root element:
///   the XML declaration, comments, processing instructions, white space) is read token by token for it;
///   external entity resolution is also off in the parser;
/// - deeper than `maxDepth` or with more than `maxElements` elements.
public enum CAPXML {
    public static let defaultMaxBytes = 256 * 1024
    public static let maxDepth = 16
    public static let maxElements = 20_000

    /// The validated alert from the bytes of a CAP 1.2 document.
    public static func alert(from data: Data, maxBytes: Int = defaultMaxBytes) throws(CAPError) -> CAPAlert {
        try CAPAlert(validating: read(data, maxBytes: maxBytes))
    }

    /// The element tree of a document, or why it was refused.
    public static func read(_ data: Data, maxBytes: Int = defaultMaxBytes) throws(CAPError) -> XMLElementNode {
        guard data.count <= maxBytes else {
            throw CAPError(.tooLarge, "alert", "\(data.count) byte > \(maxBytes) byte")
        }
        let bytes = [UInt8](data)
        if bytes.count >= 2, (bytes[0] == 0xFE && bytes[1] == 0xFF) || (bytes[0] == 0xFF && bytes[1] == 0xFE) || bytes[0] == 0 {
            throw CAPError(.malformed, "alert", "chỉ nhận UTF-8 / UTF-8 only")
        }
        try checkProlog(bytes)
        let parser = XMLParser(data: data)
        let builder = TreeBuilder()
        parser.delegate = builder
        parser.shouldProcessNamespaces = true
        parser.shouldReportNamespacePrefixes = false
        parser.shouldResolveExternalEntities = false
        let ok = parser.parse()
        if let refusal = builder.refusal { throw refusal }
        guard ok, let root = builder.root else {
            let line = parser.lineNumber
            let what = parser.parserError.map { ($0 as NSError).code }.map { "mã lỗi libxml2 \($0)" } ?? "tài liệu rỗng / empty document"
            throw CAPError(.malformed, "alert", "dòng \(line) / line \(line): \(what)")
        }
        return root
    }

    /// Refuses a document type declaration: walks the prolog's tokens up to the root element's "<".
    static func checkProlog(_ b: [UInt8]) throws(CAPError) {
        var i = 0
        if b.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }
        func starts(_ s: String, at k: Int) -> Bool {
            let u = Array(s.utf8)
            return k + u.count <= b.count && Array(b[k..<(k + u.count)]) == u
        }
        func skip(past end: String, from k: Int) -> Int? {
            let u = Array(end.utf8)
            var j = k
            while j + u.count <= b.count {
                if b[j] == u[0] && Array(b[j..<(j + u.count)]) == u { return j + u.count }
                j += 1
            }
            return nil
        }
        while i < b.count {
            switch b[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            case 0x3C:  // "<"
                if starts("<?", at: i) {
                    guard let n = skip(past: "?>", from: i + 2) else { return }  // the parser reports it unterminated
                    i = n
                } else if starts("<!--", at: i) {
                    guard let n = skip(past: "-->", from: i + 4) else { return }
                    i = n
                } else if starts("<!", at: i) {
                    throw CAPError(.doctype, "alert", "")
                } else {
                    return  // the root element
                }
            default: return  // not XML: the parser says so
            }
        }
    }

    /// Builds the element tree; stops the parser on anything a CAP document never has.
    final class TreeBuilder: NSObject, XMLParserDelegate {
        var stack: [XMLElementNode] = []
        var root: XMLElementNode?
        var count = 0
        var refusal: CAPError?

        func refuse(_ parser: XMLParser, _ e: CAPError) {
            if refusal == nil { refusal = e }
            parser.abortParsing()
        }

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            guard refusal == nil else { return }
            count += 1
            if count > CAPXML.maxElements {
                return refuse(parser, CAPError(.tooLarge, "alert", "> \(CAPXML.maxElements) phần tử / elements"))
            }
            if stack.count >= CAPXML.maxDepth {
                return refuse(parser, CAPError(.malformed, "alert", "lồng quá sâu / nested too deep"))
            }
            if root != nil && stack.isEmpty { return refuse(parser, CAPError(.malformed, "alert", "nhiều phần tử gốc / several roots")) }
            var node = XMLElementNode(name, namespace: namespaceURI)
            node.attributes = attributes  // CAP uses none; a feed's links are attributes (Atom `href`)
            stack.append(node)
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            guard refusal == nil, let done = stack.popLast() else { return }
            if stack.isEmpty { root = done } else { stack[stack.count - 1].children.append(done) }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            guard refusal == nil, !stack.isEmpty else { return }
            stack[stack.count - 1].text += string
        }

        func parser(_ parser: XMLParser, foundCDATA block: Data) {
            guard refusal == nil, !stack.isEmpty else { return }
            stack[stack.count - 1].text += String(decoding: block, as: UTF8.self)
        }

        // None of these is reachable once the prolog check has passed; kept so that a parser which reports
        // declarations stops at them rather than relying on that check alone.
        func parser(_ parser: XMLParser, foundInternalEntityDeclarationWithName name: String, value: String?) {
            refuse(parser, CAPError(.doctype, "alert", ""))
        }

        func parser(_ parser: XMLParser, foundExternalEntityDeclarationWithName name: String, publicID: String?, systemID: String?) {
            refuse(parser, CAPError(.doctype, "alert", ""))
        }

        func parser(_ parser: XMLParser, foundElementDeclarationWithName elementName: String, model: String) {
            refuse(parser, CAPError(.doctype, "alert", ""))
        }

        func parser(_ parser: XMLParser, resolveExternalEntityName name: String, systemID: String?) -> Data? {
            refuse(parser, CAPError(.doctype, "alert", ""))
            return nil
        }
    }
}

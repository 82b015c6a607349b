/// RFC 4180 fields of one CSV record: comma-separated, optionally double-quoted, `""` for a quote inside
/// quotes, and quoted fields may span lines. Works on UTF-8 bytes (the delimiters are ASCII).
enum CSVRecord {
    enum Problem: Error, Equatable {
        case unterminatedQuote
        case textAfterClosingQuote
    }

    /// Parses the record that starts with `firstLine`, pulling further lines while a quote is open.
    static func parse(firstLine: [UInt8], nextLine: () throws -> [UInt8]?) throws -> Result<[String], Problem> {
        var fields: [String] = []
        var field: [UInt8] = []
        var line = firstLine
        var index = 0
        var inQuotes = false
        var afterClosingQuote = false
        while true {
            if index == line.count {
                if inQuotes {
                    guard let more = try nextLine() else { return .failure(.unterminatedQuote) }
                    field.append(0x0A)
                    line = more
                    index = 0
                    continue
                }
                fields.append(String(decoding: field, as: UTF8.self))
                return .success(fields)
            }
            let byte = line[index]
            index += 1
            if inQuotes {
                if byte == 0x22 {
                    if index < line.count, line[index] == 0x22 {
                        field.append(0x22)
                        index += 1
                    } else {
                        inQuotes = false
                        afterClosingQuote = true
                    }
                } else {
                    field.append(byte)
                }
            } else if byte == 0x2C {
                fields.append(String(decoding: field, as: UTF8.self))
                field.removeAll(keepingCapacity: true)
                afterClosingQuote = false
            } else if afterClosingQuote {
                return .failure(.textAfterClosingQuote)
            } else if byte == 0x22, field.allSatisfy({ $0 == 0x20 }) {
                field.removeAll(keepingCapacity: true)
                inQuotes = true
            } else {
                field.append(byte)
            }
        }
    }
}

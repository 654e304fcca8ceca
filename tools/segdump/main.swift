// segdump: prints a segment file's header, footer, columns and rows (docs/segment-format.md).
//
//   segdump FILE [--verify] [--columns] [--rows N] [--column PATH] [--json]
//
// Exit status: 0 on success, 1 when the file is corrupt or cannot be read (the message names where).

import ActionStore
import ArgumentParser

struct SegDump: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segdump",
        abstract: "Print the header, footer, columns and rows of an ActionStore segment file."
    )

    @Argument(help: "The segment file.")
    var file: String

    @Flag(help: "Check every checksum and decode every block; exit 1 naming the first bad region.")
    var verify = false

    @Flag(help: "List every column: type, encoding, sizes, compression ratio, distinct, min, max, index size.")
    var columns = false

    @Option(help: "Print the first N rows as NDJSON in the Moesif action shape (with --column: N values).")
    var rows: Int?

    @Option(help: "Print one column's blocks, offsets, sizes and zone maps (e.g. metadata.plan).")
    var column: String?

    @Flag(help: "Print the summary as JSON.")
    var json = false

    func run() throws {
        let options = SegmentDump.Options(verify: verify, columns: columns, rows: rows, column: column, json: json)
        // An ActionStoreError propagates: ArgumentParser prints "Error: corruption: FILE: REGION: …" to
        // stderr and exits with status 1.
        try SegmentDump.run(path: file, options: options) { print($0) }
    }
}

// Top-level call rather than @main: a file named main.swift is top-level code.
SegDump.main()

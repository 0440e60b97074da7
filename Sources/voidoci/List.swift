import ArgumentParser
import VoidEngine

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the voids in the state directory.")
    @Option(name: [.short, .long], help: "table or json (runc's fields)") var format: String = "table"
    @Flag(name: [.short, .long], help: "Only the ids.") var quiet = false

    func validate() throws {
        guard format == "table" || format == "json" else { throw ValidationError("--format: \(format) (table or json)") }
    }

    func run() {
        guarded {
            let rt = runtime()
            // An id whose create was interrupted has no state: not a void (delete --force removes it).
            let voids = rt.store.list().compactMap { id in (try? rt.inspect(id: id)).map { (id, $0.0, $0.1) } }
            if quiet {
                writeOut(voids.map { "\($0.0)\n" }.joined())
            } else if format == "json" {
                // runc's `list --format json`: an array of state objects (null when there are none).
                let items = voids.map { _, s, status in
                    JSON.object([("ociVersion", .string(s.ociVersion)), ("id", .string(s.id)),
                                 ("pid", .number(status == .stopped ? 0 : Int(s.pid))), ("status", .string(status.rawValue)),
                                 ("bundle", .string(s.bundle)), ("rootfs", .string(s.rootfs)), ("created", .string(s.created)),
                                 ("owner", .string(s.owner))])
                }
                writeOut((items.isEmpty ? "null" : JSON.array(items).render()) + "\n")
            } else {
                writeOut("ID\tPID\tSTATUS\tBUNDLE\n" + voids.map { "\($0.0)\t\($0.1.pid)\t\($0.2.rawValue)\t\($0.1.bundle)\n" }.joined())
            }
        }
    }
}

import ArgumentParser

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the voids in the state directory.")
    func run() {
        guarded {
            let rt = runtime()
            print("ID\tPID\tSTATUS\tBUNDLE")
            for id in rt.store.list() {
                guard let (s, status) = try? rt.inspect(id: id) else { continue }
                print("\(id)\t\(s.pid)\t\(status.rawValue)\t\(s.bundle)")
            }
        }
    }
}

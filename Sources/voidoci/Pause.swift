import ArgumentParser

struct Pause: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Freeze every process of a void (cgroup freezer); status becomes paused.")
    @Argument var id: String
    func run() { guarded { try runtime().pause(id: id, true) } }
}

struct Resume: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Thaw a paused void.")
    @Argument var id: String
    func run() { guarded { try runtime().pause(id: id, false) } }
}

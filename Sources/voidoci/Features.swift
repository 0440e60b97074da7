import ArgumentParser
import Glibc
import VoidEngine

struct Features: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the runtime-spec features JSON: what voidoci honours.")
    func run() { writeOut(FeaturesJSON.render()) }
}

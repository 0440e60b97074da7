import ArgumentParser
import Glibc
import VoidEngine

let args = Array(CommandLine.arguments.dropFirst())
do {
    let (g, rest) = try GlobalOptions.parse(args)
    globals = g
    if rest.first == "--version" || rest.first == "-v" || rest.first == "-V" {
        print(VoidOCI.versionText)
        exit(0)
    }
    VoidOCI.main(rest)
} catch {
    fail(error)
}

import ArgumentParser
import Glibc
import VoidEngine

/// Before anything else: which fds the caller passed (`preserved`).
let callerFDs = countCallerFDs()
let args = Array(CommandLine.arguments.dropFirst())
do {
    let (g, rest) = try GlobalOptions.parse(args)
    globals = g
    if rest.first == "--version" || rest.first == "-v" || rest.first == "-V" {
        print(VoidOCI.versionText)
        exit(0)
    }
    // The hot verbs skip swift-argument-parser (FastPath.swift). VOIDOCI_ARGUMENT_PARSER=1
    // forces the full parser, so tests can run the same arguments both ways.
    if let p = FastPath.parse(rest), getenv("VOIDOCI_ARGUMENT_PARSER") == nil {
        FastPath.perform(p)
        exit(0)
    }
    // An unknown verb fails here: podman probes `checkpoint --help` and must see a failure,
    // which swift-argument-parser would turn into the root command's help and exit 0.
    if let verb = rest.first, !verb.hasPrefix("-"), verb != "help",
       !VoidOCI.configuration.subcommands.contains(where: { $0._commandName == verb }) {
        throw VoidError("unknown command \(verb) (see voidoci --help)")
    }
    VoidOCI.main(rest)
} catch {
    fail(error)
}

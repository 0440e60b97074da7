import ArgumentParser
import VoidEngine

struct VoidOCI: ParsableCommand {
    static let versionText = """
        voidoci version 0.1.0
        spec: \(Runtime.ociVersion)
        +VOID +SECCOMP +USERNS
        """

    static let configuration = CommandConfiguration(
        commandName: "voidoci",
        abstract: "An OCI runtime that runs each container as a void: an empty root, one mapped id, every namespace new.",
        discussion: """
            Global options (before the command): --root DIR, --log FILE, --log-format text|json, --log-level LEVEL,
            --debug, --systemd-cgroup, --cgroup-manager cgroupfs|systemd|disabled, --rootless true|false|auto, --version.

            """ + VoidGrants.help,
        subcommands: [Create.self, Start.self, State.self, Kill.self, Delete.self, Run.self, Exec.self, Pause.self, Resume.self, Update.self, Ps.self, Explain.self, CompareCommand.self, ProfileCommand.self, Features.self, List.self, Spec.self]
    )
}

/// The supervisor: a process outside the void that lives as long as the void does, holds fds on
/// its behalf and answers its requests. It is where the socket grants of docs/void.md that need
/// a process outside go (`accept` with a fresh void per connection, `connect` made outside for
/// the program through seccomp user notification), and where `voidoci profile` observes a
/// program. `org.voidoci.listen` needs none: voidoci binds its sockets before the clone and the
/// init holds them (Spawn/ListenSockets.swift). Nothing runs it yet: a void today has no process
/// outside it between `create` and `delete`, and podman's conmon is the container's parent.
///
/// Its place in the flow (docs/architecture.md): the lifecycle starts it after the spawn, as the
/// parent of the init (or of each per-connection void), with the plan's socket operations; it
/// records itself in the state directory like the init, so `kill` and `delete --force` reach it.
enum Supervisor {}

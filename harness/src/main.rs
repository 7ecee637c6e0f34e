fn main() {
    // Probes run on many short-lived threads (one per namespace entered); glibc would give each of them a
    // malloc arena of its own (up to 8 per core) and keep their pages. Two arenas hold reachlab's memory to
    // what it uses (bench/results.md: peak resident memory).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    std::process::exit(reachlab::cli::main());
}

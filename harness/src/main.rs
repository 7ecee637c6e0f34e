fn main() {
    std::process::exit(reachlab::cli::main());
}

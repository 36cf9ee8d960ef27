//! printspoold: see `lib.rs` for the map of the source and README.md for
//! the tour.

fn main() -> std::process::ExitCode {
    printspoold::commands::main()
}

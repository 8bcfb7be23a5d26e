// hello_rs.rs: the Rust counterpart of hello.wat, for benchmarks. Writes
// "Content-Type: text/plain LF LF hello LF" and exits 0.
use std::io::Write;

fn main() {
    let mut out = std::io::stdout().lock();
    out.write_all(b"Content-Type: text/plain\n\nhello\n").unwrap();
}

// panic.rs: writes nothing to stdout and panics. On wasm32-wasi a panic
// aborts: the standard panic message goes to stderr and the instance then
// traps (`unreachable`).
fn main() {
    panic!("panic.rs: deliberate panic");
}

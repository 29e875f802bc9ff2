//! A plain WASI command component: it does not implement the airlock world.
fn main() {
    println!("hello from a command");
}

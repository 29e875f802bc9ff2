//! Destination patterns: any text parses or is refused with a message,
//! never panics; a parsed destination prints back to text that parses to
//! the same destination, and admits its own literal host.
#![no_main]

use airlock_policy::Destination;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match text.parse::<Destination>() {
        Ok(destination) => {
            let printed = destination.to_string();
            let again: Destination =
                printed.parse().unwrap_or_else(|e| panic!("{printed} does not re-parse: {e}"));
            assert_eq!(again, destination, "{printed}");
            assert!(destination.covers(&destination), "{printed} covers itself");
        }
        Err(e) => assert!(e.to_string().starts_with("bad destination")),
    }
});

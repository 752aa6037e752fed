//! RFC 3339 summary bounds: never a panic, and a parsed instant formats back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &[u8]| {
    rinha::fuzzing::time_bound(text);
});

//! `uniffi-bindgen`, pinned to the workspace's uniffi so generated bindings always match the
//! `wardcrf-ffi` library they load (see `bindings/generate`).

fn main() {
    uniffi::uniffi_bindgen_main()
}

//! Panics on the fuzz check's own thread, including inside the tasks of
//! its current-thread runtime, where tokio would otherwise swallow them.
//! Included by the network checks (`server_check.rs`, `client_check.rs`).

use std::cell::Cell;
use std::sync::Once;

thread_local! {
    /// Per thread, so a test elsewhere in the process that panics on
    /// purpose does not count.
    static PANICKED: Cell<bool> = const { Cell::new(false) };
}
static HOOK: Once = Once::new();

/// Starts watching (once per process) and clears this thread's flag.
pub fn watch_panics() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.with(|p| p.set(true));
            previous(info);
        }));
    });
    PANICKED.with(|p| p.set(false));
}

/// Whether something panicked on this thread since [`watch_panics`].
pub fn panicked() -> bool {
    PANICKED.with(Cell::get)
}

//! The macro that gives every error type of the crate its complete set of
//! `is_*` predicates (docs/conventions.md). A leaf: it imports nothing, so
//! every layer's error file can use it without depending on the layers
//! whose errors `error.rs` gathers (which made an import circle).

/// One `is_*` predicate per pattern listed, with its doc comment: how
/// every error type in the crate gets a complete set.
macro_rules! predicates {
    ($ty:ident { $($(#[$doc:meta])* $name:ident => $pat:pat),* $(,)? }) => {
        impl $ty {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> bool {
                    matches!(self, $pat)
                }
            )*
        }
    };
}
pub(crate) use predicates;

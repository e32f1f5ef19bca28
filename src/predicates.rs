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
                    #[cfg(feature = "mutate-predicates")]
                    if let Some(forced) = crate::predicates::mutant(concat!(
                        stringify!($ty),
                        "::",
                        stringify!($name)
                    )) {
                        return forced;
                    }
                    matches!(self, $pat)
                }
            )*
        }

        #[cfg(test)]
        impl $ty {
            /// Every predicate the macro wrote, by name, for
            /// [`check`](crate::predicates::check).
            #[allow(dead_code)]
            pub(crate) const PREDICATES: &'static [crate::predicates::Named<$ty>] =
                &[$((stringify!($name), $ty::$name as fn(&$ty) -> bool)),*];
        }
    };
}
pub(crate) use predicates;

/// The reply predicates' names before 0.2 (they now follow the reply
/// types: see CHANGELOG.md), kept deprecated for one release; `signing`
/// adds the old name of `is_signing`.
macro_rules! renamed_reply_predicates {
    ($ty:ident $(, $signing:ident)?) => {
        /// The names before 0.2, kept for one release.
        impl $ty {
            /// Renamed [`is_auth_error`](Self::is_auth_error).
            #[deprecated(since = "0.2.0", note = "renamed is_auth_error, after the reply type AUTH_ERROR")]
            pub fn is_auth_rejected(&self) -> bool {
                self.is_auth_error()
            }

            /// Renamed [`is_error`](Self::is_error).
            #[deprecated(since = "0.2.0", note = "renamed is_error, after the reply type ERROR")]
            pub fn is_remote(&self) -> bool {
                self.is_error()
            }

            $(crate::predicates::renamed_reply_predicates!(@$signing);)?
        }
    };
    (@signing) => {
        /// Renamed [`is_signing`](Self::is_signing) (it never meant an
        /// AUTH_ERROR reply).
        #[deprecated(since = "0.2.0", note = "renamed is_signing: a local plugin failure, not an AUTH_ERROR reply")]
        pub fn is_auth(&self) -> bool {
            self.is_signing()
        }
    };
}
pub(crate) use renamed_reply_predicates;

/// The mutant `FRAMEWIRE_PREDICATE_MUTANT` asks for (`Type::is_x=true`
/// or `=false`), if it names `predicate`: what that predicate returns
/// instead of its pattern's answer. Feature `mutate-predicates` only
/// (`scripts/mutate_predicates.py` runs the tests once per mutant).
#[cfg(feature = "mutate-predicates")]
pub(crate) fn mutant(predicate: &str) -> Option<bool> {
    static ASKED: std::sync::OnceLock<Option<(String, bool)>> = std::sync::OnceLock::new();
    let asked = ASKED.get_or_init(|| {
        let v = std::env::var("FRAMEWIRE_PREDICATE_MUTANT").ok()?;
        let (name, value) = v.split_once('=')?;
        Some((name.to_owned(), value == "true"))
    });
    match asked {
        Some((name, value)) if name == predicate => Some(*value),
        _ => None,
    }
}

/// A predicate and its name.
#[cfg(test)]
pub(crate) type Named<T> = (&'static str, fn(&T) -> bool);

/// Checks a type's predicates against `cases`: each value with the names
/// of the predicates that hold for it, and no other. Every predicate must
/// hold for some case and fail for another, so that a predicate forced to
/// `true` or to `false` (`scripts/mutate_predicates.py`) fails here.
#[cfg(test)]
pub(crate) fn check<T: std::fmt::Debug>(predicates: &[Named<T>], cases: &[(T, &[&'static str])]) {
    check_with(predicates, cases);
}

/// [`check`] for cases whose names are held some other way (built, not
/// written out).
#[cfg(test)]
pub(crate) fn check_with<T: std::fmt::Debug, H: AsRef<[&'static str]>>(
    predicates: &[Named<T>],
    cases: &[(T, H)],
) {
    for (value, holding) in cases {
        let holding = holding.as_ref();
        for name in holding {
            assert!(
                predicates.iter().any(|(n, _)| n == name),
                "no predicate {name}"
            );
        }
        for (name, predicate) in predicates {
            assert_eq!(
                predicate(value),
                holding.contains(name),
                "{name} of {value:?}"
            );
        }
    }
    for (name, _) in predicates {
        let holds = cases
            .iter()
            .filter(|(_, h)| h.as_ref().contains(name))
            .count();
        assert!(holds > 0, "{name} holds for no case");
        assert!(holds < cases.len(), "{name} holds for every case");
    }
}
